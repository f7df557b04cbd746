//! Opaque pagination cursors: a keyset position, base64url-encoded JSON, tagged with the
//! listing it belongs to so a cursor from one filter is refused by another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor: pass back the `next_cursor` value of the previous page unchanged")]
pub struct CursorError;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    k: String,
    p: T,
}

pub(crate) fn encode<T: Serialize>(kind: &str, position: &T) -> String {
    let envelope = Envelope {
        k: kind.to_string(),
        p: position,
    };
    // Serialising plain tuples of numbers and strings cannot fail.
    let json = serde_json::to_vec(&envelope).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

pub(crate) fn decode<T: DeserializeOwned>(kind: &str, cursor: &str) -> Result<T, CursorError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| CursorError)?;
    let envelope: Envelope<T> = serde_json::from_slice(&bytes).map_err(|_| CursorError)?;
    if envelope.k != kind {
        return Err(CursorError);
    }
    Ok(envelope.p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_kind() {
        let c = encode("all", &(1i64, 2i64, "x".to_string()));
        assert_eq!(
            decode::<(i64, i64, String)>("all", &c),
            Ok((1, 2, "x".to_string()))
        );
        assert_eq!(
            decode::<(i64, i64, String)>("attention", &c),
            Err(CursorError)
        );
        assert_eq!(decode::<(i64, i64, String)>("all", "%%%"), Err(CursorError));
        assert_eq!(decode::<(i64, i64, String)>("all", "e30"), Err(CursorError));
    }
}
