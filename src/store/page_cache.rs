//! Inbox pages already served, so a dispatcher's refresh of an unchanged inbox costs no query.
//!
//! Over sqlx's `Any` driver a page of 50 threads is a thousand values, each copied, boxed and
//! converted, and handed row by row from the connection's thread: ~1 ms of CPU per request on
//! two cores, where the index walk itself takes 0.1 ms (BENCHMARKS.md, session 18).
//!
//! Every write transaction bumps one generation when it finishes ([`super::WriteTx`]), and a
//! page is served only while the generation it was read at is current, so this process's
//! writes show at once.
//! Pages also expire after [`TTL`]: the backstop for what the generation cannot see, another
//! process writing to the same database, or a write whose commit was cancelled mid-flight and
//! landed after its bump.
//!
//! The header counts (with the tenant's message total, [`TenantTotals`]) are kept the same
//! way, per tenant: every list request carries them, a search too, and under load their
//! query's round trip to the database cost as much as a cheap search's own.
//!
//! A page nobody has is read by one request while the others asking for it wait
//! ([`PageCache::flight`]): when a page expired, the 32 connections of the load run used to all
//! miss at once and queue 32 identical queries on two cores.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::counts::TenantTotals;
use super::threads::{ThreadFilter, ThreadPage};

const TTL: Duration = Duration::from_secs(1);

/// Bounds the memory of many tenants' pages (a page holds each thread's whole last message,
/// an email's included); a full cache starts over.
const MAX_BYTES: usize = 64 << 20;

/// Tenants whose totals are kept at most; past it the totals start over.
const MAX_TOTALS: usize = 10_000;

/// Locks that pages are read under, a page's chosen by its key's hash: a fixed set, so nothing
/// grows with the keys, and two pages rarely share one.
const FLIGHTS: usize = 64;

/// One list request without a search: the page it names is the same for every caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PageKey {
    pub tenant_id: String,
    pub filter: ThreadFilter,
    pub limit: i64,
    pub cursor: Option<String>,
}

struct Entry {
    generation: u64,
    at: Instant,
    page: ThreadPage,
    bytes: usize,
}

struct Totals {
    generation: u64,
    at: Instant,
    totals: TenantTotals,
}

#[derive(Default)]
struct Pages {
    by_key: HashMap<PageKey, Entry>,
    bytes: usize,
}

pub(crate) struct PageCache {
    generation: AtomicU64,
    pages: Mutex<Pages>,
    totals: Mutex<HashMap<String, Totals>>,
    flights: Vec<tokio::sync::Mutex<()>>,
    hasher: RandomState,
    ttl: Duration,
    max_bytes: usize,
}

impl Default for PageCache {
    fn default() -> Self {
        PageCache::new(TTL, MAX_BYTES)
    }
}

impl PageCache {
    fn new(ttl: Duration, max_bytes: usize) -> Self {
        PageCache {
            generation: AtomicU64::new(0),
            pages: Mutex::default(),
            totals: Mutex::default(),
            flights: (0..FLIGHTS).map(|_| tokio::sync::Mutex::new(())).collect(),
            hasher: RandomState::new(),
            ttl,
            max_bytes,
        }
    }

    /// Held while reading the page `key` names from the database; whoever waited for it
    /// looks in the cache again first.
    pub(crate) fn flight(&self, key: &PageKey) -> &tokio::sync::Mutex<()> {
        let i = self.hasher.hash_one(key) as usize % self.flights.len();
        &self.flights[i]
    }

    /// Read before the query whose result is then [`PageCache::put`] under it: a write that
    /// commits after this read makes the page stale, one that committed before is in it.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Called once a write transaction has finished, committed or not.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn get(&self, key: &PageKey) -> Option<ThreadPage> {
        let current = self.generation();
        let pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        pages
            .by_key
            .get(key)
            .filter(|e| e.generation == current && e.at.elapsed() < self.ttl)
            .map(|e| e.page.clone())
    }

    pub(crate) fn put(&self, key: PageKey, generation: u64, page: ThreadPage) {
        let bytes = approx_bytes(&key, &page);
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = pages.by_key.remove(&key) {
            pages.bytes -= old.bytes;
        }
        if pages.bytes + bytes > self.max_bytes {
            pages.by_key.clear();
            pages.bytes = 0;
        }
        pages.bytes += bytes;
        pages.by_key.insert(
            key,
            Entry {
                generation,
                at: Instant::now(),
                page,
                bytes,
            },
        );
    }
}

impl PageCache {
    pub(crate) fn totals(&self, tenant_id: &str) -> Option<TenantTotals> {
        let current = self.generation();
        let totals = self.totals.lock().unwrap_or_else(|p| p.into_inner());
        totals
            .get(tenant_id)
            .filter(|e| e.generation == current && e.at.elapsed() < self.ttl)
            .map(|e| e.totals)
    }

    /// Like [`PageCache::put`]: `generation` is the one read before the totals were.
    pub(crate) fn put_totals(&self, tenant_id: &str, generation: u64, totals: TenantTotals) {
        let mut all = self.totals.lock().unwrap_or_else(|p| p.into_inner());
        if all.len() >= MAX_TOTALS && !all.contains_key(tenant_id) {
            all.clear();
        }
        all.insert(
            tenant_id.to_string(),
            Totals {
                generation,
                at: Instant::now(),
                totals,
            },
        );
    }
}

/// The heap a cached page takes, near enough to bound the cache: its strings plus a fixed
/// allowance per thread for the rest.
fn approx_bytes(key: &PageKey, page: &ThreadPage) -> usize {
    let thread = |t: &crate::domain::Thread| {
        let c = &t.customer;
        let text = [&c.id, &c.name, &c.phone, &c.email, &t.language]
            .into_iter()
            .flatten()
            .map(String::len)
            .sum::<usize>();
        256 + t.id.len()
            + text
            + t.last_message.as_ref().map_or(0, |m| m.body.len())
            + t.tags.iter().map(|tag| 32 + tag.len()).sum::<usize>()
    };
    128 + key.tenant_id.len()
        + key.cursor.as_ref().map_or(0, String::len)
        + page.threads.iter().map(thread).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ThreadCounts;

    /// Pages that outlive any test, so no assertion depends on how fast the machine runs.
    fn long_lived(max_bytes: usize) -> PageCache {
        PageCache::new(Duration::from_secs(3600), max_bytes)
    }

    fn key(tenant: &str) -> PageKey {
        PageKey {
            tenant_id: tenant.into(),
            filter: ThreadFilter::Attention,
            limit: 50,
            cursor: None,
        }
    }

    fn page(total: i64) -> ThreadPage {
        ThreadPage {
            threads: Vec::new(),
            counts: ThreadCounts {
                total,
                attention: 0,
                drafts: 0,
            },
            next_cursor: None,
        }
    }

    #[test]
    fn serves_a_page_until_a_write_finishes() {
        let cache = long_lived(MAX_BYTES);
        let read_at = cache.generation();
        cache.put(key("t1"), read_at, page(7));
        assert_eq!(cache.get(&key("t1")).map(|p| p.counts.total), Some(7));
        assert!(cache.get(&key("t2")).is_none());
        cache.invalidate();
        assert!(cache.get(&key("t1")).is_none());
    }

    #[test]
    fn pages_past_the_memory_bound_start_the_cache_over() {
        let tenant = |i: usize| key(&format!("t{i:09}"));
        let per_page = approx_bytes(&tenant(0), &page(1));
        // room for ten pages and a half
        let cache = long_lived(10 * per_page + per_page / 2);
        for i in 0..10 {
            cache.put(tenant(i), 0, page(1));
        }
        assert!(cache.get(&tenant(0)).is_some());
        cache.put(tenant(10), 0, page(1));
        assert!(cache.get(&tenant(0)).is_none());
        assert!(cache.get(&tenant(10)).is_some());
    }

    #[test]
    fn totals_are_served_until_a_write_finishes() {
        let cache = long_lived(MAX_BYTES);
        let totals = TenantTotals {
            counts: page(7).counts,
            messages_ingested: 70,
        };
        let read_at = cache.generation();
        cache.put_totals("t1", read_at, totals);
        assert_eq!(cache.totals("t1"), Some(totals));
        assert_eq!(cache.totals("t2"), None);
        cache.invalidate();
        assert_eq!(cache.totals("t1"), None);
        // read while that write committed
        cache.put_totals("t1", read_at, totals);
        assert_eq!(cache.totals("t1"), None);
    }

    #[test]
    fn a_page_read_before_a_write_finished_is_never_served() {
        let cache = long_lived(MAX_BYTES);
        let read_at = cache.generation();
        // the write commits while the page's query runs
        cache.invalidate();
        cache.put(key("t1"), read_at, page(7));
        assert!(cache.get(&key("t1")).is_none());
    }
}
