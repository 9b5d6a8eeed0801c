//! Workspaces, API keys and web sessions.

use rusqlite::{params, Connection, OptionalExtension, Row};

use alertgate_core::ids::WorkspaceId;
use alertgate_core::Timestamp;

use super::corrupt;
use crate::model::*;
use crate::Result;

pub(crate) fn create_workspace(c: &Connection, w: &Workspace) -> Result<()> {
    c.execute(
        "INSERT INTO workspaces (id, name, created_at) VALUES (?1, ?2, ?3)",
        params![w.id.to_string(), w.name, w.created_at.as_millis()],
    )?;
    Ok(())
}

fn workspace_from_row(r: &Row<'_>) -> Result<Workspace> {
    Ok(Workspace {
        id: r.get::<_, String>(0)?.parse().map_err(corrupt)?,
        name: r.get(1)?,
        created_at: Timestamp::from_millis(r.get(2)?),
    })
}

pub(crate) fn list_workspaces(c: &Connection) -> Result<Vec<Workspace>> {
    let mut stmt = c.prepare_cached("SELECT id, name, created_at FROM workspaces ORDER BY id")?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(workspace_from_row(r)?);
    }
    Ok(out)
}

pub(crate) fn get_workspace(c: &Connection, id: WorkspaceId) -> Result<Option<Workspace>> {
    let mut stmt = c.prepare_cached("SELECT id, name, created_at FROM workspaces WHERE id = ?1")?;
    let mut rows = stmt.query([id.to_string()])?;
    rows.next()?.map(workspace_from_row).transpose()
}

pub(crate) fn create_api_key(c: &Connection, k: &NewApiKey) -> Result<()> {
    c.execute(
        "INSERT INTO api_keys (id, workspace_id, name, role, key_hash, key_prefix, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            k.id,
            k.workspace_id.to_string(),
            k.name,
            k.role.as_str(),
            k.key_hash,
            k.key_prefix,
            k.created_at.as_millis()
        ],
    )?;
    Ok(())
}

const KEY_COLUMNS: &str =
    "id, workspace_id, name, role, key_prefix, created_at, last_used_at, revoked_at";

fn key_from_row(r: &Row<'_>) -> Result<ApiKey> {
    let role: String = r.get(3)?;
    Ok(ApiKey {
        id: r.get(0)?,
        workspace_id: r.get::<_, String>(1)?.parse().map_err(corrupt)?,
        name: r.get(2)?,
        role: Role::parse(&role).ok_or_else(|| corrupt(&role))?,
        key_prefix: r.get(4)?,
        created_at: Timestamp::from_millis(r.get(5)?),
        last_used_at: r.get::<_, Option<i64>>(6)?.map(Timestamp::from_millis),
        revoked_at: r.get::<_, Option<i64>>(7)?.map(Timestamp::from_millis),
    })
}

pub(crate) fn list_api_keys(c: &Connection, ws: WorkspaceId) -> Result<Vec<ApiKey>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE workspace_id = ?1 ORDER BY id"
    ))?;
    let mut rows = stmt.query([ws.to_string()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(key_from_row(r)?);
    }
    Ok(out)
}

pub(crate) fn api_key_by_hash(c: &Connection, hash: &str) -> Result<Option<ApiKey>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1"
    ))?;
    let mut rows = stmt.query([hash])?;
    rows.next()?.map(key_from_row).transpose()
}

pub(crate) fn revoke_api_key(
    c: &Connection,
    ws: WorkspaceId,
    id: &str,
    now: Timestamp,
) -> Result<bool> {
    let found = c
        .query_row(
            "SELECT 1 FROM api_keys WHERE id = ?1 AND workspace_id = ?2",
            params![id, ws.to_string()],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if found {
        c.execute(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
            params![id, now.as_millis()],
        )?;
        // A revoked key's sessions end with it.
        c.execute("DELETE FROM sessions WHERE api_key_id = ?1", [id])?;
    }
    Ok(found)
}

pub(crate) fn touch_api_key(c: &Connection, id: &str, now: Timestamp) -> Result<()> {
    c.execute(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
        params![id, now.as_millis()],
    )?;
    Ok(())
}

pub(crate) fn create_session(c: &Connection, s: &Session) -> Result<()> {
    c.execute(
        "INSERT INTO sessions (token_hash, workspace_id, role, api_key_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            s.token_hash,
            s.workspace_id.to_string(),
            s.role.as_str(),
            s.api_key_id,
            s.created_at.as_millis(),
            s.expires_at.as_millis()
        ],
    )?;
    // Expired sessions are swept as new ones are made.
    c.execute(
        "DELETE FROM sessions WHERE expires_at < ?1",
        [s.created_at.as_millis()],
    )?;
    Ok(())
}

pub(crate) fn session_by_hash(
    c: &Connection,
    hash: &str,
    now: Timestamp,
) -> Result<Option<Session>> {
    let row = c
        .prepare_cached(
            "SELECT s.token_hash, s.workspace_id, s.role, s.api_key_id, s.created_at, s.expires_at
             FROM sessions s LEFT JOIN api_keys k ON k.id = s.api_key_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND k.revoked_at IS NULL",
        )?
        .query_row(params![hash, now.as_millis()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .optional()?;
    row.map(|(token_hash, ws, role, api_key_id, created, expires)| {
        Ok(Session {
            token_hash,
            workspace_id: ws.parse().map_err(corrupt)?,
            role: Role::parse(&role).ok_or_else(|| corrupt(&role))?,
            api_key_id,
            created_at: Timestamp::from_millis(created),
            expires_at: Timestamp::from_millis(expires),
        })
    })
    .transpose()
}

pub(crate) fn delete_session(c: &Connection, hash: &str) -> Result<()> {
    c.execute("DELETE FROM sessions WHERE token_hash = ?1", [hash])?;
    Ok(())
}
