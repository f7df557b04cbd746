//! Businesses and their API keys. Keys are random, shown once, and stored only as a SHA-256.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{new_id, now_ms, Principal, Store, StoreError};
use crate::domain::Role;

/// Prefix that makes a leaked key recognisable to secret scanners.
const KEY_PREFIX: &str = "pk_";

fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl Store {
    /// Creates the business if it does not exist and returns a new key for it.
    pub async fn create_key(&self, tenant_name: &str, role: Role) -> Result<String, StoreError> {
        let name = tenant_name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid("tenant name must not be empty".into()));
        }
        let mut tx = self.begin_write().await?;
        let now = now_ms();
        let existing = sqlx::query("SELECT id FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let tenant_id: String = match existing {
            Some(row) => row.try_get("id")?,
            None => {
                let id = new_id();
                sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(&id)
                    .bind(name)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                id
            }
        };
        let key = insert_key(&mut tx, &tenant_id, role, now).await?;
        tx.commit().await?;
        Ok(key)
    }

    /// A new key for an existing business.
    pub async fn create_key_for_tenant(
        &self,
        tenant_id: &str,
        role: Role,
    ) -> Result<String, StoreError> {
        let mut tx = self.begin_write().await?;
        let key = insert_key(&mut tx, tenant_id, role, now_ms()).await?;
        tx.commit().await?;
        Ok(key)
    }

    /// Resolves a presented key; `None` when it is unknown.
    pub async fn authenticate(&self, key: &str) -> Result<Option<Principal>, StoreError> {
        let key_hash = hash_key(key);
        if let Some(principal) = self.keys.get(&key_hash) {
            return Ok(Some(principal));
        }
        let row = sqlx::query("SELECT tenant_id, role FROM api_keys WHERE key_hash = $1")
            .bind(&key_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let principal = Principal {
            tenant_id: row.try_get("tenant_id")?,
            role: row.try_get::<String, _>("role")?.parse()?,
        };
        self.keys.put(key_hash, principal.clone());
        Ok(Some(principal))
    }
}

async fn insert_key(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    role: Role,
    now: i64,
) -> Result<String, StoreError> {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, key_hash, role, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(tenant_id)
    .bind(hash_key(&key))
    .bind(role.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(key)
}
