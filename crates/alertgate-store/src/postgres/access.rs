//! Workspaces, API keys and web sessions (as `sqlite/access.rs`).

use tokio_postgres::{Client, Row};

use alertgate_core::ids::WorkspaceId;
use alertgate_core::Timestamp;

use super::{corrupt, text};
use crate::model::*;
use crate::Result;

pub(crate) async fn create_workspace(c: &Client, w: &Workspace) -> Result<()> {
    c.execute(
        "INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)",
        &[&w.id.to_string(), &text(&w.name), &w.created_at.as_millis()],
    )
    .await?;
    Ok(())
}

fn workspace_from_row(r: &Row) -> Result<Workspace> {
    Ok(Workspace {
        id: r.try_get::<_, &str>(0)?.parse().map_err(corrupt)?,
        name: r.try_get(1)?,
        created_at: Timestamp::from_millis(r.try_get(2)?),
    })
}

pub(crate) async fn list_workspaces(c: &Client) -> Result<Vec<Workspace>> {
    let rows = c
        .query(
            "SELECT id, name, created_at FROM workspaces ORDER BY id",
            &[],
        )
        .await?;
    rows.iter().map(workspace_from_row).collect()
}

pub(crate) async fn get_workspace(c: &Client, id: WorkspaceId) -> Result<Option<Workspace>> {
    let row = c
        .query_opt(
            "SELECT id, name, created_at FROM workspaces WHERE id = $1",
            &[&id.to_string()],
        )
        .await?;
    row.as_ref().map(workspace_from_row).transpose()
}

pub(crate) async fn create_api_key(c: &Client, k: &NewApiKey) -> Result<()> {
    c.execute(
        "INSERT INTO api_keys (id, workspace_id, name, role, key_hash, key_prefix, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &k.id,
            &k.workspace_id.to_string(),
            &text(&k.name),
            &k.role.as_str(),
            &k.key_hash,
            &k.key_prefix,
            &k.created_at.as_millis(),
        ],
    )
    .await?;
    Ok(())
}

const KEY_COLUMNS: &str =
    "id, workspace_id, name, role, key_prefix, created_at, last_used_at, revoked_at";

fn key_from_row(r: &Row) -> Result<ApiKey> {
    let role: &str = r.try_get(3)?;
    Ok(ApiKey {
        id: r.try_get(0)?,
        workspace_id: r.try_get::<_, &str>(1)?.parse().map_err(corrupt)?,
        name: r.try_get(2)?,
        role: Role::parse(role).ok_or_else(|| corrupt(role))?,
        key_prefix: r.try_get(4)?,
        created_at: Timestamp::from_millis(r.try_get(5)?),
        last_used_at: r.try_get::<_, Option<i64>>(6)?.map(Timestamp::from_millis),
        revoked_at: r.try_get::<_, Option<i64>>(7)?.map(Timestamp::from_millis),
    })
}

pub(crate) async fn list_api_keys(c: &Client, ws: WorkspaceId) -> Result<Vec<ApiKey>> {
    let rows = c
        .query(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE workspace_id = $1 ORDER BY id"),
            &[&ws.to_string()],
        )
        .await?;
    rows.iter().map(key_from_row).collect()
}

pub(crate) async fn api_key_by_hash(c: &Client, hash: &str) -> Result<Option<ApiKey>> {
    let row = c
        .query_opt(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"),
            &[&hash],
        )
        .await?;
    row.as_ref().map(key_from_row).transpose()
}

pub(crate) async fn revoke_api_key(
    c: &mut Client,
    ws: WorkspaceId,
    id: &str,
    now: Timestamp,
) -> Result<bool> {
    let tx = c.transaction().await?;
    let n = tx
        .execute(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3)
             WHERE id = $1 AND workspace_id = $2",
            &[&id, &ws.to_string(), &now.as_millis()],
        )
        .await?;
    if n == 1 {
        // A revoked key's sessions end with it.
        tx.execute("DELETE FROM sessions WHERE api_key_id = $1", &[&id])
            .await?;
    }
    tx.commit().await?;
    Ok(n == 1)
}

pub(crate) async fn touch_api_key(c: &Client, id: &str, now: Timestamp) -> Result<()> {
    c.execute(
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1",
        &[&id, &now.as_millis()],
    )
    .await?;
    Ok(())
}

pub(crate) async fn create_session(c: &Client, s: &Session) -> Result<()> {
    c.execute(
        "INSERT INTO sessions (token_hash, workspace_id, role, api_key_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &s.token_hash,
            &s.workspace_id.to_string(),
            &s.role.as_str(),
            &s.api_key_id,
            &s.created_at.as_millis(),
            &s.expires_at.as_millis(),
        ],
    )
    .await?;
    // Expired sessions are swept as new ones are made.
    c.execute(
        "DELETE FROM sessions WHERE expires_at < $1",
        &[&s.created_at.as_millis()],
    )
    .await?;
    Ok(())
}

pub(crate) async fn session_by_hash(
    c: &Client,
    hash: &str,
    now: Timestamp,
) -> Result<Option<Session>> {
    let row = c
        .query_opt(
            "SELECT s.token_hash, s.workspace_id, s.role, s.api_key_id, s.created_at, s.expires_at
             FROM sessions s LEFT JOIN api_keys k ON k.id = s.api_key_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL",
            &[&hash, &now.as_millis()],
        )
        .await?;
    row.map(|r| {
        let role: &str = r.try_get(2)?;
        Ok(Session {
            token_hash: r.try_get(0)?,
            workspace_id: r.try_get::<_, &str>(1)?.parse().map_err(corrupt)?,
            role: Role::parse(role).ok_or_else(|| corrupt(role))?,
            api_key_id: r.try_get(3)?,
            created_at: Timestamp::from_millis(r.try_get(4)?),
            expires_at: Timestamp::from_millis(r.try_get(5)?),
        })
    })
    .transpose()
}

pub(crate) async fn delete_session(c: &Client, hash: &str) -> Result<()> {
    c.execute("DELETE FROM sessions WHERE token_hash = $1", &[&hash])
        .await?;
    Ok(())
}
