//! The gateway's API token check.
//!
//! Write routes require the configured `api_token` when it is set. It is
//! accepted as `Authorization: Bearer <token>` and, where the caller allows
//! it, as a `token` query parameter: storage servers' webhooks (Ceph RGW's
//! HTTP push endpoint, for one) POST to a fixed URL and cannot add headers.
//!
//! Tokens are compared as SHA-256 digests with [`subtle`]'s constant-time
//! equality, so neither the token's bytes nor its length leak through
//! timing. Error messages never contain the token given or expected.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Name of the query parameter that may carry the token.
pub const TOKEN_QUERY_PARAM: &str = "token";

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was given where one is accepted.
    #[error("missing API token: send Authorization: Bearer <api_token>{}", if *.query_allowed { " or ?token=<api_token>" } else { "" })]
    Missing {
        /// Whether `?token=` would have been accepted (for the message).
        query_allowed: bool,
    },
    /// A token was given but it is not the configured one.
    #[error("wrong API token (compare with the api_token variable)")]
    Wrong,
}

/// Check a request's credentials against `expected` (the `api_token`
/// variable; empty means no token is required).
///
/// `authorization` is the `Authorization` header's value, if any; `query`
/// the raw query string (without `?`), read only when `allow_query`. The
/// request passes when either carries the token.
pub fn check_api_token(
    expected: &str,
    authorization: Option<&str>,
    query: &str,
    allow_query: bool,
) -> Result<(), AuthError> {
    if expected.is_empty() {
        return Ok(());
    }
    let bearer = authorization.and_then(|value| {
        let (scheme, token) = value.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned())
    });
    let from_query = allow_query
        .then(|| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == TOKEN_QUERY_PARAM)
                .map(|(_, value)| value.into_owned())
        })
        .flatten();
    if bearer.is_none() && from_query.is_none() {
        return Err(AuthError::Missing {
            query_allowed: allow_query,
        });
    }
    let matches = |given: &Option<String>| {
        given
            .as_deref()
            .is_some_and(|given| tokens_equal(given, expected))
    };
    // Evaluate both, so timing does not tell which one matched.
    let (a, b) = (matches(&bearer), matches(&from_query));
    if a | b {
        Ok(())
    } else {
        Err(AuthError::Wrong)
    }
}

/// Constant-time equality of two tokens (of their SHA-256 digests, so
/// different lengths take the same time too).
pub fn tokens_equal(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    given.as_slice().ct_eq(expected.as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_token_unset_lets_everything_through() {
        assert_eq!(check_api_token("", None, "", false), Ok(()));
        assert_eq!(
            check_api_token("", Some("Bearer x"), "token=y", true),
            Ok(())
        );
    }

    #[test]
    fn api_token_accepted_as_bearer_header() {
        assert_eq!(
            check_api_token("s3cr3t", Some("Bearer s3cr3t"), "", false),
            Ok(())
        );
        assert_eq!(
            check_api_token("s3cr3t", Some("bearer  s3cr3t "), "", false),
            Ok(())
        );
        assert_eq!(
            check_api_token("s3cr3t", Some("Bearer nope"), "", false),
            Err(AuthError::Wrong)
        );
        assert_eq!(
            check_api_token("s3cr3t", Some("Basic s3cr3t"), "", false),
            Err(AuthError::Missing {
                query_allowed: false
            })
        );
    }

    #[test]
    fn api_token_in_query_only_where_allowed() {
        let query = "source=rgw&token=s%2Bcr%20t";
        assert_eq!(check_api_token("s+cr t", None, query, true), Ok(()));
        assert_eq!(
            check_api_token("s+cr t", None, query, false),
            Err(AuthError::Missing {
                query_allowed: false
            })
        );
        assert_eq!(
            check_api_token("s+cr t", None, "token=wrong", true),
            Err(AuthError::Wrong)
        );
        // Either place may carry it.
        assert_eq!(
            check_api_token("t", Some("Bearer wrong"), "token=t", true),
            Ok(())
        );
    }

    #[test]
    fn api_token_errors_never_echo_tokens() {
        for err in [
            check_api_token("expected-secret", Some("Bearer given-secret"), "", true),
            check_api_token("expected-secret", None, "token=given-secret", true),
            check_api_token("expected-secret", None, "", true),
        ] {
            let text = err.unwrap_err().to_string();
            assert!(!text.contains("secret"), "{text}");
        }
        let missing = check_api_token("x", None, "", true)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("?token="), "{missing}");
    }

    #[test]
    fn tokens_equal_is_exact() {
        assert!(tokens_equal("abc", "abc"));
        assert!(!tokens_equal("abc", "abd"));
        assert!(!tokens_equal("abc", "abcd"));
        assert!(!tokens_equal("", "a"));
    }
}
