//! Numbered placeholders (`$1, $2, ...`) for statements whose length follows the batch, and the
//! values bound to them.
//!
//! sqlx's `QueryBuilder` writes `?` for the `Any` driver, which PostgreSQL rejects, so the store
//! numbers its own; both engines read `$N`.

use std::fmt::Write;

/// `$first, ..., $(first + n - 1)`: the inside of an `IN (...)`.
pub(crate) fn list(first: usize, n: usize) -> String {
    let mut out = String::with_capacity(n * 5);
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "${}", first + i);
    }
    out
}

/// `rows` parenthesised rows of `columns` placeholders each, numbered row by row from `first`:
/// the body of a multi-row `VALUES`.
pub(crate) fn rows(first: usize, rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * (columns * 5 + 4));
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        out.push_str(&list(first + row * columns, columns));
        out.push(')');
    }
    out
}

/// A bind value for a query assembled at run time.
pub(crate) enum Param {
    Int(i64),
    Text(String),
    /// A text column that may be NULL.
    MaybeText(Option<String>),
    /// An integer column that may be NULL.
    MaybeInt(Option<i64>),
}

/// Values for `$1, $2, ...` in the order they were pushed.
#[derive(Default)]
pub(crate) struct Params(Vec<Param>);

impl Params {
    /// Adds a value and returns its placeholder (`$n`).
    pub(crate) fn push(&mut self, p: Param) -> String {
        self.0.push(p);
        format!("${}", self.0.len())
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn append(&mut self, other: Params) {
        self.0.extend(other.0);
    }

    pub(crate) fn bind_all<'q>(
        self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for p in self.0 {
            query = match p {
                Param::Int(v) => query.bind(v),
                Param::Text(v) => query.bind(v),
                Param::MaybeText(v) => query.bind(v),
                Param::MaybeInt(v) => query.bind(v),
            };
        }
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_rows_number_on_from_the_first() {
        assert_eq!(list(2, 3), "$2, $3, $4");
        assert_eq!(list(1, 0), "");
        assert_eq!(rows(1, 2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(rows(4, 1, 2), "($4, $5)");
    }
}
