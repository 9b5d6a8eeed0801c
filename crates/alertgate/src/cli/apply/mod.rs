//! `alertgate apply FILE`: configuration as code. Reads a declarations file (see
//! [`declarations`]), compares it with what the server holds (see [`plan`]) and makes the
//! difference through the management API — or, with `--dry-run`, only prints it. Applying the
//! same file twice changes nothing the second time.
//!
//! Objects are identified by name within the token's workspace, so a declared webhook keeps its
//! id and intake URL however often the file is applied. Objects the file does not mention are
//! left alone unless `--prune` is given.

pub mod declarations;
pub mod plan;

use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value};

use super::client::ApiClient;
use super::{emit, CliError, Connection};
use declarations::Declarations;
use plan::{Action, Current, Plan};

#[derive(Args)]
pub struct ApplyArgs {
    /// The declarations file (TOML; see the README's Operations section).
    pub file: PathBuf,
    /// Print what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete the workspace's webhooks and destinations that the file does not declare.
    #[arg(long)]
    pub prune: bool,
    /// Only validate the file (secrets included); needs no server.
    #[arg(long, conflicts_with_all = ["dry_run", "prune"])]
    pub check: bool,
}

pub async fn run(conn: &Connection, args: ApplyArgs) -> Result<(), CliError> {
    let decl = Declarations::load(&args.file).map_err(CliError::usage)?;
    if args.check {
        let summary = describe(&decl);
        emit(conn.output, &json!({ "valid": true }), |_| {
            println!("{}: OK ({summary})", args.file.display())
        });
        return Ok(());
    }
    let c = conn.client()?;
    let result = apply(&c, &decl, args.prune, args.dry_run).await;
    let (plan, failure) = match result {
        Ok(plan) => (plan, None),
        Err(Failed { plan: None, error }) => return Err(error),
        Err(Failed {
            plan: Some(plan),
            error,
        }) => (plan, Some(error)),
    };
    let mut report = report(&plan, args.dry_run);
    report["failed"] = json!(failure.is_some());
    emit(conn.output, &report, |_| {
        print_plan(&plan, args.dry_run, failure.is_some())
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What a file declares, in a few words.
pub fn describe(decl: &Declarations) -> String {
    format!(
        "{} webhook(s), {} destination(s), workspace correlation {}",
        decl.webhooks.len(),
        decl.destinations.len(),
        if decl.correlation.is_some() {
            "declared"
        } else {
            "not managed"
        }
    )
}

/// Applying stopped: with the plan when it was known (its steps up to the failing one are done).
pub struct Failed {
    pub plan: Option<Plan>,
    pub error: CliError,
}

impl From<CliError> for Failed {
    fn from(error: CliError) -> Self {
        Self { plan: None, error }
    }
}

async fn fetch(c: &ApiClient) -> Result<Current, CliError> {
    let items = |v: Value| match v.get("items") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    Ok(Current {
        webhooks: items(c.get("/api/v1/webhooks").await?),
        destinations: items(c.get("/api/v1/destinations").await?),
        correlation: c.get("/api/v1/correlation").await?,
    })
}

/// Plan against the server and, unless `dry_run`, carry the plan out step by step, stopping at
/// the first refusal. `alertgate serve --apply` calls this too.
pub async fn apply(
    c: &ApiClient,
    decl: &Declarations,
    prune: bool,
    dry_run: bool,
) -> Result<Plan, Failed> {
    let current = fetch(c).await?;
    let plan = plan::plan(decl, &current, prune).map_err(|e| CliError {
        code: 1,
        message: e,
    })?;
    if dry_run {
        return Ok(plan);
    }
    let mut failure = None;
    'steps: for step in &plan.steps {
        for r in &step.requests {
            if let Err(e) = c.call(r.method.clone(), &r.path, r.body.as_ref()).await {
                failure = Some(CliError {
                    code: e.code,
                    message: format!(
                        "{} {} `{}`: {}",
                        verb(step.action),
                        step.object.as_str(),
                        step.name,
                        e.message
                    ),
                });
                break 'steps;
            }
        }
    }
    match failure {
        None => Ok(plan),
        Some(error) => Err(Failed {
            plan: Some(plan),
            error,
        }),
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "creating",
        Action::Update => "updating",
        Action::Delete => "deleting",
        Action::Unchanged | Action::Unmanaged => "checking",
    }
}

fn report(plan: &Plan, dry_run: bool) -> Value {
    json!({
        "dry_run": dry_run,
        "steps": plan.steps,
        "summary": {
            "create": plan.count(Action::Create),
            "update": plan.count(Action::Update),
            "unchanged": plan.count(Action::Unchanged),
            "delete": plan.count(Action::Delete),
            "unmanaged": plan.count(Action::Unmanaged),
        },
    })
}

/// The plan for people: one line per object, one indented line per changing field.
pub fn print_plan(plan: &Plan, dry_run: bool, failed: bool) {
    for line in plan_lines(plan) {
        println!("{line}");
    }
    let summary = format!(
        "{} to create, {} to update, {} unchanged, {} to delete",
        plan.count(Action::Create),
        plan.count(Action::Update),
        plan.count(Action::Unchanged),
        plan.count(Action::Delete),
    );
    if failed {
        println!("\nPlan: {summary}. Applying stopped at the first error (below); the steps before it were applied.");
    } else if dry_run {
        println!("\nDry run: {summary}. Nothing was changed.");
    } else if plan.is_noop() {
        println!("\nNothing to do: the server matches the file.");
    } else {
        println!("\nApplied: {summary}.");
    }
}

pub fn plan_lines(plan: &Plan) -> Vec<String> {
    let mut lines = Vec::new();
    for step in &plan.steps {
        let (mark, what) = match step.action {
            Action::Create => ('+', "create"),
            Action::Update => ('~', "update"),
            Action::Unchanged => ('=', "unchanged"),
            Action::Delete => ('-', "delete"),
            Action::Unmanaged => ('?', "not declared; kept (--prune deletes it)"),
        };
        let id = step
            .id
            .as_deref()
            .map(|id| format!(" ({id})"))
            .unwrap_or_default();
        lines.push(format!(
            "{mark} {} `{}`{id}: {what}",
            step.object.as_str(),
            step.name
        ));
        for c in &step.changes {
            lines.push(format!("    {}: {} -> {}", c.field, c.from, c.to));
        }
    }
    lines
}
