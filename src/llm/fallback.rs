//! Fallback chain.
