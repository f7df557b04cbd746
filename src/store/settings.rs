//! Per-business configuration: the drafting voice and prompt template overrides.

use sqlx::Row;

use super::{now_ms, to_time, Store, StoreError};
use crate::domain::VoiceSettings;
use crate::triage::Taxonomy;

/// One stored version of a business's template; `source: None` restores the default.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PromptVersion {
    pub version: i64,
    pub source: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl Store {
    /// The business's voice; the business name alone when nothing was set.
    pub async fn voice(&self, tenant_id: &str) -> Result<VoiceSettings, StoreError> {
        let row = sqlx::query(
            "SELECT v.settings, t.name FROM tenants t \
             LEFT JOIN voice_settings v ON v.tenant_id = t.id WHERE t.id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("tenant"))?;
        let mut voice = match row.try_get::<Option<String>, _>("settings")? {
            Some(json) => serde_json::from_str(&json)?,
            None => VoiceSettings::default(),
        };
        if voice.name.trim().is_empty() {
            voice.name = row.try_get("name")?;
        }
        Ok(voice)
    }

    pub async fn set_voice(
        &self,
        tenant_id: &str,
        voice: &VoiceSettings,
    ) -> Result<VoiceSettings, StoreError> {
        let json = serde_json::to_string(voice)?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO voice_settings (tenant_id, settings, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET settings = $2, updated_at = $3",
        )
        .bind(tenant_id)
        .bind(json)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.voice(tenant_id).await
    }

    /// The business's own taxonomy, or `None` when it uses the shipped one.
    pub async fn taxonomy(&self, tenant_id: &str) -> Result<Option<Taxonomy>, StoreError> {
        let row = sqlx::query("SELECT taxonomy FROM taxonomies WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(serde_json::from_str(
                &row.try_get::<String, _>("taxonomy")?,
            )?)),
            None => Ok(None),
        }
    }

    pub async fn set_taxonomy(
        &self,
        tenant_id: &str,
        taxonomy: &Taxonomy,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(taxonomy)?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO taxonomies (tenant_id, taxonomy, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET taxonomy = $2, updated_at = $3",
        )
        .bind(tenant_id)
        .bind(json)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Tenants with a taxonomy of their own.
    pub async fn tenants_with_taxonomy(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query("SELECT tenant_id FROM taxonomies")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Ok(row.try_get("tenant_id")?))
            .collect()
    }

    /// Every version of one template, newest first.
    pub async fn prompt_history(
        &self,
        tenant_id: &str,
        name: &str,
    ) -> Result<Vec<PromptVersion>, StoreError> {
        sqlx::query(
            "SELECT version, source, created_at FROM prompt_versions \
             WHERE tenant_id = $1 AND name = $2 ORDER BY version DESC",
        )
        .bind(tenant_id)
        .bind(name)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(PromptVersion {
                version: row.try_get("version")?,
                source: row.try_get("source")?,
                created_at: to_time(row.try_get("created_at")?),
            })
        })
        .collect()
    }

    /// Stores a new live version (already validated by the caller).
    pub async fn put_prompt(
        &self,
        tenant_id: &str,
        name: &str,
        source: Option<&str>,
    ) -> Result<PromptVersion, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) AS v FROM prompt_versions \
             WHERE tenant_id = $1 AND name = $2",
        )
        .bind(tenant_id)
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
        let version = row.try_get::<i64, _>("v")? + 1;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO prompt_versions (tenant_id, name, version, source, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant_id)
        .bind(name)
        .bind(version)
        .bind(source)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(PromptVersion {
            version,
            source: source.map(str::to_string),
            created_at: to_time(now),
        })
    }
}
