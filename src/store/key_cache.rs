//! API keys already resolved, so a request does not pay a database round trip to authenticate.
//!
//! Under a PostgreSQL ingest load that lookup was one query per request on top of the work the
//! request came for. Keys cannot be revoked through the API; one deleted in the database stops
//! working within `TTL`. Unknown keys are never remembered, so a new key works at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Principal;

const TTL: Duration = Duration::from_secs(60);

/// Bounds the memory a flood of distinct valid keys could take; a full cache starts over.
const MAX_KEYS: usize = 10_000;

#[derive(Default)]
pub(crate) struct KeyCache {
    by_hash: Mutex<HashMap<String, (Principal, Instant)>>,
}

impl KeyCache {
    pub(crate) fn get(&self, key_hash: &str) -> Option<Principal> {
        let keys = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        keys.get(key_hash)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(principal, _)| principal.clone())
    }

    pub(crate) fn put(&self, key_hash: String, principal: Principal) {
        let mut keys = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(key_hash, (principal, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    #[test]
    fn remembers_resolved_keys_only() {
        let cache = KeyCache::default();
        assert_eq!(cache.get("h1"), None);
        let principal = Principal {
            tenant_id: "t1".into(),
            role: Role::Agent,
        };
        cache.put("h1".into(), principal.clone());
        assert_eq!(cache.get("h1"), Some(principal));
        assert_eq!(cache.get("h2"), None);
    }
}
