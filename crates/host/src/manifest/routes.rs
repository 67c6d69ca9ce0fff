//! The `[[trigger.http]]` route check Spin makes when its HTTP trigger starts
//! (`crates/routes/src/lib.rs` `Router::build`, with the `routefinder` route
//! syntax): the route is made absolute, one trailing `/` is dropped, `/...`
//! becomes the wildcard `/*`, and then every `/`- or `.`-separated segment
//! must be a literal, a named parameter `:name`, or the wildcard `*`.
//!
//! Only the syntax is checked here. Duplicate routes are not an error in Spin
//! (it logs them and the later one wins), so they are not refused either.

use super::ManifestError;

/// Refuses `route` where Spin's router would, naming the component.
pub(super) fn check(route: &str, component: &str) -> Result<(), ManifestError> {
    let based = based_route(route);
    let spec = match based.strip_suffix("/...") {
        Some(prefix) => format!("{prefix}/*"),
        None => based.clone(),
    };
    segment_error(&spec).map_or(Ok(()), |reason| {
        Err(ManifestError::Route {
            route: based,
            component: component.to_owned(),
            reason,
        })
    })
}

/// `route` as Spin's router keys it: with a leading `/`, without one trailing `/`.
fn based_route(route: &str) -> String {
    let absolute = if route.starts_with('/') {
        route.to_owned()
    } else {
        format!("/{route}")
    };
    match absolute.strip_suffix('/') {
        Some(stripped) => stripped.to_owned(),
        None => absolute,
    }
}

/// What is wrong with the first bad segment of `spec`, if any.
fn segment_error(spec: &str) -> Option<String> {
    let trimmed = spec.trim_start_matches('/').trim_end_matches('/');
    trimmed.split(['/', '.']).find_map(|segment| {
        if segment == ":" {
            Some("params must be named".to_owned())
        } else if segment.starts_with('*') && segment.len() > 1 {
            Some(format!(
                "since there can only be one wildcard, it doesn't need a name. replace `{segment}` with `*`"
            ))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_spin_accepts_pass() {
        for route in [
            "/...",
            "/",
            "",
            "/objects/...",
            "/status",
            "/status/",
            "status",
            "/items/:id",
            "/files/*",
            "/a.b/c",
        ] {
            assert!(check(route, "web").is_ok(), "{route}");
        }
    }

    #[test]
    fn routes_unnamed_param_and_named_wildcard_are_refused() {
        let err = check("/items/:", "web").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Error parsing route /items/: associated with component web: params must be named"
        );
        let err = check("/files/*rest/", "web").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Error parsing route /files/*rest associated with component web: since there can only be one wildcard, it doesn't need a name. replace `*rest` with `*`"
        );
        let err = check("x/:.json", "api").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Error parsing route /x/:.json associated with component api"),
            "{err}"
        );
    }
}
