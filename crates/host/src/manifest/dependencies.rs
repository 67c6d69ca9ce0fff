//! `[component.<id>.dependencies]` keys, checked as Spin checks them:
//! - each key is a plain kebab-case name or a package name
//!   `namespace:package[/interface][@version]`, the version being semver
//!   (Spin's `DependencyName`, `crates/serde/src/dependencies.rs`);
//! - no two keys of one component may satisfy the same import: same package,
//!   and neither different interfaces nor incompatible versions tell them
//!   apart (`ComponentDependencies::ensure_disjoint`,
//!   `crates/manifest/src/schema/v2.rs`).

use std::fmt;

use super::schema::check_id;
use super::ManifestError;

/// Checks the dependency keys of component `component`.
pub(super) fn check_names<'a>(
    component: &str,
    names: impl IntoIterator<Item = &'a String>,
) -> Result<(), ManifestError> {
    let mut packages = Vec::new();
    for name in names {
        let parsed = parse(name).map_err(|reason| ManifestError::DependencyName {
            name: name.clone(),
            component: component.to_owned(),
            reason,
        })?;
        if let Some(package) = parsed {
            packages.push(package);
        }
    }
    for (index, this) in packages.iter().enumerate() {
        for other in &packages[index + 1..] {
            if this.conflicts_with(other) {
                return Err(ManifestError::Dependencies {
                    component: component.to_owned(),
                    reason: format!("\"{this}\" dependency conflicts with \"{other}\""),
                });
            }
        }
    }
    Ok(())
}

/// A dependency key naming a package.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PackageName<'a> {
    /// `namespace:package`.
    package: &'a str,
    /// `/interface`.
    interface: Option<&'a str>,
    /// `@version`.
    version: Option<Version<'a>>,
}

impl PackageName<'_> {
    /// Whether both keys could satisfy the same import (Spin's `check_disjoint`).
    fn conflicts_with(&self, other: &Self) -> bool {
        if self.package != other.package {
            return false;
        }
        if let (Some(a), Some(b)) = (&self.version, &other.version) {
            if a.compatibility() != b.compatibility() {
                return false;
            }
        }
        if let (Some(a), Some(b)) = (self.interface, other.interface) {
            if a != b {
                return false;
            }
        }
        true
    }
}

impl fmt::Display for PackageName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.package)?;
        if let Some(interface) = self.interface {
            write!(f, "/{interface}")?;
        }
        if let Some(version) = &self.version {
            write!(f, "@{}", version.text)?;
        }
        Ok(())
    }
}

/// A semantic version, as far as compatibility needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version<'a> {
    /// The version as written.
    text: &'a str,
    /// `major.minor.patch`.
    core: [u64; 3],
    /// The pre-release part (empty when none); the build part is ignored.
    pre: &'a str,
}

impl Version<'_> {
    /// The versions a caller of this one accepts collapse to the same key:
    /// `1.2.3` → `1.0.0`, `0.2.3` → `0.2.0`, `0.0.3` and pre-releases stay.
    fn compatibility(&self) -> ([u64; 3], &str) {
        let [major, minor, patch] = self.core;
        let core = if !self.pre.is_empty() {
            self.core
        } else if major > 0 {
            [major, 0, 0]
        } else if minor > 0 {
            [0, minor, 0]
        } else {
            [0, 0, patch]
        };
        (core, self.pre)
    }
}

/// `None` for a plain name, the package otherwise; the error says what is wrong.
fn parse(name: &str) -> Result<Option<PackageName<'_>>, String> {
    if !name.contains([':', '/']) {
        check_id(name, '-', false).map_err(|why| format!("not kebab-case: {why}"))?;
        return Ok(None);
    }
    let (name, version) = match name.split_once('@') {
        Some((name, version)) => (name, Some(parse_version(version)?)),
        None => (name, None),
    };
    let (package, interface) = match name.split_once('/') {
        Some((package, interface)) => (package, Some(interface)),
        None => (name, None),
    };
    let Some((namespace, package_name)) = package.split_once(':') else {
        return Err(format!(
            "invalid package ref {package:?}: missing expected ':' (write `namespace:name`, e.g. `thumbflow:pipeline`)"
        ));
    };
    for label in [namespace, package_name] {
        check_id(label, '-', false)
            .map_err(|why| format!("package label {label:?} is not kebab-case: {why}"))?;
    }
    if let Some(interface) = interface {
        check_id(interface, '-', false)
            .map_err(|why| format!("interface {interface:?} is not kebab-case: {why}"))?;
    }
    Ok(Some(PackageName {
        package,
        interface,
        version,
    }))
}

/// Parses a semantic version `major.minor.patch[-pre][+build]` (semver 2.0).
fn parse_version(text: &str) -> Result<Version<'_>, String> {
    let invalid = |why: &str| format!("invalid version {text:?}: {why}");
    let (rest, build) = match text.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (text, None),
    };
    let (core, pre) = rest.split_once('-').unwrap_or((rest, ""));
    let numbers: Vec<&str> = core.split('.').collect();
    let [major, minor, patch] = numbers.as_slice() else {
        return Err(invalid("expected major.minor.patch"));
    };
    let mut parsed = [0u64; 3];
    for (slot, number) in parsed.iter_mut().zip([major, minor, patch]) {
        *slot = numeric(number).ok_or_else(|| invalid("major, minor and patch must be numbers"))?;
    }
    if rest.contains('-') && !identifiers(pre, true) {
        return Err(invalid("bad pre-release"));
    }
    if build.is_some_and(|build| !identifiers(build, false)) {
        return Err(invalid("bad build metadata"));
    }
    Ok(Version {
        text,
        core: parsed,
        pre,
    })
}

/// A semver numeric identifier: digits, no leading zero.
fn numeric(s: &str) -> Option<u64> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// Dot-separated non-empty identifiers of ASCII alphanumerics and `-`; in a
/// pre-release, an all-digit identifier has no leading zero.
fn identifiers(s: &str, pre_release: bool) -> bool {
    s.split('.').all(|id| {
        let charset = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let all_digits = id.bytes().all(|b| b.is_ascii_digit());
        charset && !(pre_release && all_digits && numeric(id).is_none())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(names: &[&str]) -> Result<(), ManifestError> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        check_names("web", &names)
    }

    #[test]
    fn dependencies_valid_names_pass() {
        check(&[
            "thumbflow:pipeline/normalize@0.1.0",
            "thumbflow:pipeline/thumbnail@0.1.0",
            "wasi:http@0.2.0-rc.1+build.5",
            "plain-name",
            "a:b",
        ])
        .unwrap();
    }

    #[test]
    fn dependencies_invalid_names_are_refused() {
        for (name, why) in [
            ("Bad_Name", "not kebab-case"),
            (
                "pipeline/normalize",
                "invalid package ref \"pipeline\": missing expected ':'",
            ),
            ("thumbflow:pipe_line", "package label \"pipe_line\""),
            ("thumbflow:pipeline/Nor_malize", "interface \"Nor_malize\""),
            ("thumbflow:pipeline@0.1", "invalid version \"0.1\""),
            ("thumbflow:pipeline@01.0.0", "must be numbers"),
            ("thumbflow:pipeline@1.0.0-01", "bad pre-release"),
            ("thumbflow:pipeline@1.0.0+", "bad build metadata"),
        ] {
            let err = check(&[name]).unwrap_err();
            let message = err.to_string();
            assert!(
                message.starts_with(&format!(
                    "invalid dependency name {name:?} in [component.web.dependencies]: "
                )),
                "{message}"
            );
            assert!(message.contains(why), "{name}: {message}");
        }
    }

    #[test]
    fn dependencies_overlapping_packages_conflict() {
        for pair in [
            ["thumbflow:pipeline", "thumbflow:pipeline/normalize@0.1.0"],
            ["a:b/c@1.2.0", "a:b/c@1.9.9"],
            ["a:b/c@0.1.0", "a:b@0.1.5"],
        ] {
            let err = check(&pair).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "component \"web\" has invalid dependencies: \"{}\" dependency conflicts with \"{}\"",
                    pair[0], pair[1]
                )
            );
        }
    }

    #[test]
    fn dependencies_disjoint_packages_pass() {
        check(&["a:b/c@1.0.0", "a:b/d@1.0.0"]).unwrap();
        check(&["a:b/c@1.0.0", "a:b/c@2.0.0"]).unwrap();
        check(&["a:b@0.1.0", "a:b@0.2.0"]).unwrap();
        check(&["a:b@0.0.1", "a:b@0.0.2"]).unwrap();
        check(&["a:b/c", "x:y/c"]).unwrap();
    }
}
