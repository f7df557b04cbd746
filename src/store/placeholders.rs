//! Numbered placeholders (`$1, $2, ...`) for statements whose length follows the batch.
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
