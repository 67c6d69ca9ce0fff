//! `allowed_outbound_hosts`: which network destinations a component may reach,
//! with Spin's semantics (`spin-outbound-networking-config`).
//!
//! An entry is `scheme://host[:port]`. Each part may be `*`; the host may be
//! `*.example.com` (any subdomain), an IP address, or a CIDR range
//! (`10.0.0.0/8`); the port may be a range `8000..8080` (end excluded). A
//! missing port means the scheme's well-known port, and a scheme without one
//! then needs an explicit port. Parsing follows Spin's
//! `crates/outbound-networking-config/src/allowed_hosts.rs` step by step, so
//! the same entries are rejected with the same messages.
//!
//! Two moments, as in Spin:
//! - [`validate_with_defaults`], when the manifest is loaded: literal entries
//!   must parse, and templated entries must parse once expanded with the
//!   variables' *default* values (Spin's `AllowedHostsConfig::validate`,
//!   called from `crates/loader/src/local.rs`). An entry naming a variable
//!   without a default is not checked then.
//! - [`AllowedHosts::parse`], at start-up with the resolved values. An entry
//!   that expanded to nothing is skipped, so it grants nothing (Spin fails each
//!   outbound request when such an entry does not parse, which also grants
//!   nothing).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::template::{self, Part};
use super::{ManifestError, Variable};

/// Spin's only special entry, refused with a pointer to what to write instead.
const INSECURE_ALLOW_ALL: &str = "insecure:allow-all";

/// Why an `allowed_outbound_hosts` entry is refused, in Spin's words: its
/// layers, outermost first (Spin prints one per line under "Caused by:";
/// `Display` joins them with `: ` as `{:#}` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostReason(pub Vec<String>);

impl HostReason {
    /// `inner` under the context `context`.
    fn within(context: String, inner: String) -> Self {
        Self(vec![context, inner])
    }
}

impl From<String> for HostReason {
    fn from(message: String) -> Self {
        Self(vec![message])
    }
}

impl std::fmt::Display for HostReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(": "))
    }
}

/// The line Spin ends its allowed-host format errors with.
const LEARN_MORE: &str =
    "\nLearn more: https://spinframework.dev/v3/http-outbound#granting-http-permissions-to-components";

/// Checks a component's raw `allowed_outbound_hosts` when the manifest is
/// loaded, as Spin does before any `--variable` or `SPIN_VARIABLE_*` applies:
/// a literal entry must parse; a templated one must parse once every variable
/// in it takes its `default`. A template naming a variable with no default
/// (`required`) or an undeclared one cannot be resolved yet and is left to
/// start-up, as in Spin.
pub(super) fn validate_with_defaults(
    entries: &[String],
    variables: &BTreeMap<String, Variable>,
) -> Result<(), ManifestError> {
    check_insecure_allow_all(entries)?;
    for entry in entries {
        let parts = template::parse(entry)?;
        if template::is_literal(&parts) {
            AllowedHost::parse(entry).map_err(|reason| ManifestError::AllowedHost {
                entry: entry.clone(),
                reason,
            })?;
            continue;
        }
        let Some(resolved) = resolve_with_defaults(&parts, variables) else {
            continue;
        };
        AllowedHost::parse(&resolved).map_err(|reason| ManifestError::DefaultAllowedHost {
            template: template::display(&parts),
            resolved,
            reason,
        })?;
    }
    Ok(())
}

/// `parts` expanded with the variables' defaults; `None` when a variable has
/// no default or is not declared.
fn resolve_with_defaults(
    parts: &[Part<'_>],
    variables: &BTreeMap<String, Variable>,
) -> Option<String> {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::Variable(name) => out.push_str(variables.get(*name)?.default.as_deref()?),
        }
    }
    Some(out)
}

/// Spin refuses `allowed_outbound_hosts = ["insecure:allow-all"]` by name.
fn check_insecure_allow_all(entries: &[String]) -> Result<(), ManifestError> {
    match entries {
        [only] if only == INSECURE_ALLOW_ALL => Err(ManifestError::AllowedHost {
            entry: only.clone(),
            // Spin's words, its unbalanced closing quote included.
            reason: HostReason::from("'insecure:allow-all' is not allowed - use '*://*:*' instead if you really want to allow all outbound traffic'".to_owned()),
        }),
        _ => Ok(()),
    }
}

/// A component's parsed `allowed_outbound_hosts`; [`AllowedHosts::allows`]
/// answers for each outbound HTTP request or Redis connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    /// The parsed entries; a URL is allowed when any of them matches.
    entries: Vec<AllowedHost>,
}

/// One parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    /// `None` for `*://`.
    scheme: Option<String>,
    /// Which hosts.
    host: HostPattern,
    /// Which ports.
    port: PortPattern,
}

/// The host part of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// `*`.
    Any,
    /// `*.example.com`, stored as `.example.com`: any subdomain, not the domain itself.
    Subdomain(String),
    /// `self`: relative requests to the app itself, which thumbflow's host never
    /// makes; it never matches an absolute URL (as in Spin).
    ToSelf,
    /// One domain or IP address.
    Literal(url::Host),
    /// An IP range: network address and prefix length.
    Cidr(IpAddr, u8),
}

/// The port part of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    /// `*`.
    Any,
    /// One port (given, or the scheme's default).
    Port(u16),
    /// `start..end`, end excluded.
    Range(u16, u16),
}

impl AllowedHosts {
    /// Parses `entries`, already expanded. Empty entries (and a bare `http://`
    /// or `https://`, what `https://{{ host }}` becomes with `host` empty) are
    /// skipped: they grant nothing. (The manifest's defaults must not produce
    /// them: see [`validate_with_defaults`].)
    pub fn parse(entries: &[String]) -> Result<Self, ManifestError> {
        check_insecure_allow_all(entries)?;
        let mut parsed = Vec::with_capacity(entries.len());
        for entry in entries {
            let trimmed = entry.trim();
            if matches!(trimmed, "" | "http://" | "https://") {
                continue;
            }
            let host =
                AllowedHost::parse(trimmed).map_err(|reason| ManifestError::AllowedHost {
                    entry: entry.clone(),
                    reason,
                })?;
            parsed.push(host);
        }
        Ok(Self { entries: parsed })
    }

    /// Whether `url` (`http://127.0.0.1:8080/hook`, `redis://127.0.0.1:6379`)
    /// may be reached. A URL that cannot be parsed, or has no host, is not.
    pub fn allows(&self, url: &str) -> bool {
        let Ok(parsed) = url::Url::parse(url) else {
            return false;
        };
        // Non-special schemes (redis) keep the host opaque: parse it again so
        // that `redis://127.0.0.1` compares as an IP address.
        let Some(host) = parsed.host_str().and_then(|h| url::Host::parse(h).ok()) else {
            return false;
        };
        let scheme = parsed.scheme();
        let port = parsed.port().or_else(|| well_known_port(scheme));
        self.entries
            .iter()
            .any(|entry| entry.allows(scheme, &host, port))
    }

    /// Whether no entry grants anything (every outbound connection is denied).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl AllowedHost {
    /// Parses one entry the way Spin's `AllowedHostConfig::parse` does, so that
    /// exactly the entries Spin rejects are rejected; the error is Spin's text.
    ///
    /// As in Spin, the port is what follows the last `:` (so a bracketed IPv6
    /// address needs an explicit port), the port is checked first, then the
    /// scheme, then the host.
    fn parse(entry: &str) -> Result<Self, HostReason> {
        let url = entry.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(HostReason::from(match url {
                "*" | ":" | "" | "?" => format!(
                    "{url:?} is not an allowed outbound host format.\nHosts must be in the form <scheme>://<host>[:<port>], with '*' wildcards allowed for each.\nIf you intended to allow all outbound networking, you can use '*://*:*' - this will obviate all network sandboxing.{LEARN_MORE}"
                ),
                _ => format!(
                    "{url:?} does not contain a scheme (e.g., 'http://' or '*://'){LEARN_MORE}"
                ),
            }));
        };
        let (host, rest) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match rest.split_once('/') {
            Some((_, path)) if !path.is_empty() => {
                return Err(format!("{url:?} has a path but is not allowed to").into())
            }
            Some((port, _)) => port,
            None => rest,
        };
        let port = parse_port(port, scheme)
            .map_err(|e| HostReason::within(format!("Invalid allowed host port {port:?}"), e))?;
        let scheme = parse_scheme(scheme).map_err(|e| {
            HostReason::within(format!("Invalid allowed host scheme {scheme:?}"), e)
        })?;
        let host = parse_host(host)
            .map_err(|e| HostReason::within(format!("Invalid allowed host {host:?}"), e))?;
        Ok(Self { scheme, host, port })
    }

    fn allows(&self, scheme: &str, host: &url::Host, port: Option<u16>) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let host_ok = match (&self.host, host) {
            (HostPattern::Any, _) => true,
            (HostPattern::Subdomain(suffix), url::Host::Domain(domain)) => {
                domain.ends_with(suffix.as_str())
            }
            (HostPattern::Subdomain(_), _) | (HostPattern::ToSelf, _) => false,
            (HostPattern::Literal(literal), host) => literal == host,
            (HostPattern::Cidr(network, prefix), url::Host::Ipv4(ip)) => {
                in_network(IpAddr::V4(*ip), *network, *prefix)
            }
            (HostPattern::Cidr(network, prefix), url::Host::Ipv6(ip)) => {
                in_network(IpAddr::V6(*ip), *network, *prefix)
            }
            (HostPattern::Cidr(..), url::Host::Domain(_)) => false,
        };
        let port_ok = match (&self.port, port) {
            (PortPattern::Any, _) => true,
            (PortPattern::Port(p), Some(port)) => *p == port,
            (PortPattern::Range(start, end), Some(port)) => (*start..*end).contains(&port),
            (_, None) => false,
        };
        scheme_ok && host_ok && port_ok
    }
}

/// `*` or a scheme name of letters (Spin accepts any alphabetic characters,
/// and an empty name, which matches nothing).
fn parse_scheme(scheme: &str) -> Result<Option<String>, String> {
    if scheme == "*" {
        return Ok(None);
    }
    if scheme.starts_with('{') {
        return Err("scheme lists are not supported".to_owned());
    }
    if scheme.chars().any(|c| !c.is_alphabetic()) {
        return Err("only alphabetic characters are allowed".to_owned());
    }
    Ok(Some(scheme.to_lowercase()))
}

/// The host part, in Spin's order: `*`, `self`, lists, IP ranges, paths,
/// `*.` wildcards, then a domain or IP address.
fn parse_host(host: &str) -> Result<HostPattern, String> {
    let host = host.trim();
    match host {
        "*" => return Ok(HostPattern::Any),
        "self" | "self.alt" => return Ok(HostPattern::ToSelf),
        _ => {}
    }
    if host.starts_with('{') {
        return Err("host lists are not yet supported".to_owned());
    }
    if let Some(cidr) = parse_cidr(host) {
        return Ok(cidr);
    }
    let host = host.trim_end_matches('/');
    if host.contains('/') {
        return Err("must not include a path".to_owned());
    }
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.contains('*') {
            return Err("wildcards are allowed only as prefixes".to_owned());
        }
        return Ok(HostPattern::Subdomain(format!(
            ".{}",
            domain.to_lowercase()
        )));
    }
    if host.contains('*') {
        return Err("wildcards are allowed only as subdomains".to_owned());
    }
    url::Host::parse(host)
        .map(HostPattern::Literal)
        .map_err(|e| e.to_string())
}

/// `10.0.0.0/8` (the address is truncated to its prefix, as Spin does);
/// `None` when `host` is not an IP range.
fn parse_cidr(host: &str) -> Option<HostPattern> {
    let (ip, prefix) = host.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then(|| HostPattern::Cidr(mask(ip, prefix), prefix))
}

/// `ip` with all but its first `prefix` bits cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & mask).into())
        }
    }
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    ip.is_ipv4() == network.is_ipv4() && mask(ip, prefix) == network
}

/// The port part: empty (the scheme's well-known port), `*`, a number or a
/// range `start..end` (end excluded).
fn parse_port(port: &str, scheme: &str) -> Result<PortPattern, String> {
    if port.is_empty() {
        return well_known_port(scheme).map(PortPattern::Port).ok_or_else(|| {
            format!(
                "no port was provided and the scheme {scheme:?} does not have a known default port number"
            )
        });
    }
    if port == "*" {
        return Ok(PortPattern::Any);
    }
    if port.starts_with('{') {
        return Err("port lists are not yet supported".to_owned());
    }
    if let Some((start, end)) = port.split_once("..") {
        let number = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("port range {port:?} contains non-number"))
        };
        return Ok(PortPattern::Range(number(start)?, number(end)?));
    }
    port.parse::<u16>()
        .map(PortPattern::Port)
        .map_err(|_| format!("port {port:?} is not a number"))
}

/// The port a scheme uses when none is given (Spin's list; `rediss` has none).
fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "redis" => Some(6379),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "mqtt" => Some(1883),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        AllowedHosts::parse(&entries).unwrap()
    }

    fn reason(entry: &str) -> String {
        match AllowedHosts::parse(&[entry.to_owned()]) {
            Err(ManifestError::AllowedHost { entry: e, reason }) => {
                assert_eq!(e, entry);
                reason.to_string()
            }
            other => panic!("{entry:?}: expected an AllowedHost error, got {other:?}"),
        }
    }

    #[test]
    fn allowed_hosts_exact_host_and_port() {
        let h = hosts(&["http://127.0.0.1:8080"]);
        assert!(h.allows("http://127.0.0.1:8080/hook"));
        assert!(h.allows("http://127.0.0.1:8080"));
        assert!(!h.allows("http://127.0.0.1:8081/hook"));
        assert!(!h.allows("http://127.0.0.2:8080/hook"));
        assert!(!h.allows("https://127.0.0.1:8080/hook"));
        assert!(!h.allows("http://localhost:8080/hook"));
    }

    #[test]
    fn allowed_hosts_redis_matches_ip_and_port() {
        let h = hosts(&["redis://127.0.0.1:6379"]);
        assert!(h.allows("redis://127.0.0.1:6379"));
        assert!(h.allows("redis://127.0.0.1"), "default port 6379");
        assert!(h.allows("redis://:secret@127.0.0.1:6379/0"));
        assert!(!h.allows("redis://127.0.0.1:6380"));
        assert!(!h.allows("http://127.0.0.1:6379"));
    }

    #[test]
    fn allowed_hosts_default_ports_by_scheme() {
        let h = hosts(&[
            "http://example.com",
            "https://secure.example.com",
            "redis://cache",
        ]);
        assert!(h.allows("http://example.com/x"));
        assert!(h.allows("http://example.com:80/x"));
        assert!(!h.allows("http://example.com:8080/x"));
        assert!(h.allows("https://secure.example.com/"));
        assert!(h.allows("https://secure.example.com:443/"));
        assert!(!h.allows("https://secure.example.com:8443/"));
        assert!(
            !h.allows("http://secure.example.com/"),
            "http is port 80, not 443"
        );
        assert!(h.allows("redis://cache:6379"));
        assert!(!h.allows("redis://cache:6380"));
        let reason = reason("rediss://cache");
        assert_eq!(
            reason,
            "Invalid allowed host port \"\": no port was provided and the scheme \"rediss\" does not have a known default port number"
        );
        assert!(hosts(&["rediss://cache:6379"]).allows("rediss://cache:6379"));
    }

    #[test]
    fn allowed_hosts_wildcard_port() {
        let h = hosts(&["http://127.0.0.1:*"]);
        assert!(h.allows("http://127.0.0.1:1/"));
        assert!(h.allows("http://127.0.0.1/"));
        assert!(!h.allows("http://127.0.0.2:1/"));
        assert!(!h.allows("https://127.0.0.1:1/"));
    }

    #[test]
    fn allowed_hosts_wildcard_host() {
        let h = hosts(&["https://*.example.com", "http://*:8080"]);
        assert!(h.allows("https://api.example.com/v1"));
        assert!(h.allows("https://a.b.example.com/"));
        assert!(!h.allows("https://example.com/"), "subdomains only");
        assert!(!h.allows("https://badexample.com/"));
        assert!(!h.allows("https://api.example.com:8443/"));
        assert!(h.allows("http://anything.test:8080/"));
        assert!(h.allows("http://10.1.2.3:8080/"));
        assert!(!h.allows("http://10.1.2.3:8081/"));
    }

    #[test]
    fn allowed_hosts_wildcard_scheme() {
        let h = hosts(&["*://127.0.0.1:6379"]);
        assert!(h.allows("redis://127.0.0.1:6379"));
        assert!(h.allows("http://127.0.0.1:6379/"));
        assert!(!h.allows("redis://127.0.0.1:6380"));
        let all = hosts(&["*://*:*"]);
        assert!(all.allows("https://example.com/"));
        assert!(all.allows("redis://10.0.0.1:1234"));
        let reason = reason("*://example.com");
        assert!(
            reason.contains("the scheme \"*\" does not have a known default port number"),
            "{reason}"
        );
    }

    #[test]
    fn allowed_hosts_port_range_and_cidr() {
        let h = hosts(&["http://127.0.0.1:8000..8002", "redis://10.0.0.0/8:*"]);
        assert!(h.allows("http://127.0.0.1:8000/"));
        assert!(h.allows("http://127.0.0.1:8001/"));
        assert!(!h.allows("http://127.0.0.1:8002/"), "end is excluded");
        assert!(h.allows("redis://10.200.3.4:6379"));
        assert!(!h.allows("redis://11.0.0.1:6379"));
        assert!(!h.allows("redis://cache.internal:6379"));
    }

    #[test]
    fn allowed_hosts_ipv6_and_case() {
        let h = hosts(&["http://[::1]:8080", "https://Example.COM"]);
        assert!(h.allows("http://[::1]:8080/x"));
        assert!(!h.allows("http://[::2]:8080/x"));
        assert!(h.allows("https://example.com/"));
    }

    #[test]
    fn allowed_hosts_empty_entries_are_skipped() {
        let h = hosts(&["", "  ", "http://", "https://"]);
        assert!(h.is_empty());
        assert!(!h.allows("http://127.0.0.1:8080/"));
        assert!(!h.allows("https://example.com/"));
        let none = hosts(&[]);
        assert!(!none.allows("redis://127.0.0.1:6379"));
    }

    #[test]
    fn allowed_hosts_path_is_rejected() {
        // Spin finds the path after the port, or in the host when there is no port.
        assert_eq!(
            reason("http://127.0.0.1:8080/hook"),
            "\"http://127.0.0.1:8080/hook\" has a path but is not allowed to"
        );
        for entry in ["https://example.com/api", "https://example.com/api/"] {
            let reason = reason(entry);
            assert!(
                reason.starts_with("Invalid allowed host \"example.com/api")
                    && reason.contains(": must not include a path"),
                "{entry}: {reason}"
            );
        }
        // A trailing slash alone is not a path.
        assert!(hosts(&["https://example.com/"]).allows("https://example.com/x"));
    }

    #[test]
    fn allowed_hosts_malformed_entries_are_rejected_with_spin_messages() {
        for (entry, expected) in [
            (
                "example.com",
                "\"example.com\" does not contain a scheme (e.g., 'http://' or '*://')",
            ),
            ("*", "\"*\" is not an allowed outbound host format."),
            (
                "http://example.com:http",
                "Invalid allowed host port \"http\": port \"http\" is not a number",
            ),
            (
                "http://example.com:70000",
                "Invalid allowed host port \"70000\": port \"70000\" is not a number",
            ),
            (
                "http://example.com:1..x",
                "Invalid allowed host port \"1..x\": port range \"1..x\" contains non-number",
            ),
            (
                "http://example.com:{80,443}",
                "Invalid allowed host port \"{80,443}\": port lists are not yet supported",
            ),
            (
                "http://a.*.com",
                "Invalid allowed host \"a.*.com\": wildcards are allowed only as subdomains",
            ),
            (
                "http://*.a.*.com",
                "Invalid allowed host \"*.a.*.com\": wildcards are allowed only as prefixes",
            ),
            (
                "http://{a,b}:80",
                "Invalid allowed host \"{a,b}\": host lists are not yet supported",
            ),
            (
                "h2c://example.com:80",
                "Invalid allowed host scheme \"h2c\": only alphabetic characters are allowed",
            ),
            (
                "{http,https}://example.com:80",
                "Invalid allowed host scheme \"{http,https}\": scheme lists are not supported",
            ),
            ("http://:80", "Invalid allowed host \"\": empty host"),
            ("http://", "Invalid allowed host \"\": empty host"),
            (
                "http://[::1]",
                "Invalid allowed host port \"1]\": port \"1]\" is not a number",
            ),
        ] {
            let reason = AllowedHost::parse(entry).unwrap_err().to_string();
            assert!(reason.starts_with(expected), "{entry}: {reason}");
        }
        // Spin refuses `insecure:allow-all` by name when it is the only entry.
        assert_eq!(
            reason("insecure:allow-all"),
            "'insecure:allow-all' is not allowed - use '*://*:*' instead if you really want to allow all outbound traffic'"
        );
        let err = AllowedHosts::parse(&["http//x".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("\"http//x\""), "{err}");
        // Spin's layers: the part, then what is wrong with it.
        let err = AllowedHosts::parse(&["http://h:x".to_owned()]).unwrap_err();
        assert_eq!(
            err.layers(),
            [
                "Invalid allowed host port \"x\"",
                "port \"x\" is not a number"
            ]
        );
    }

    #[test]
    fn allowed_hosts_what_spin_accepts_parses() {
        let h = hosts(&[
            "https://*.10.0.0.1",
            "://example.com:80",
            "http://example.com:80/",
        ]);
        assert!(!h.allows("https://10.0.0.1/"));
        assert!(h.allows("http://example.com/"));
    }

    fn variables(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Variable> {
        pairs
            .iter()
            .map(|(name, default)| {
                let variable = Variable {
                    default: default.map(str::to_owned),
                    required: default.is_none(),
                    secret: false,
                    description: None,
                };
                ((*name).to_owned(), variable)
            })
            .collect()
    }

    fn validate(entries: &[&str], vars: &[(&str, Option<&str>)]) -> Result<(), ManifestError> {
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        validate_with_defaults(&entries, &variables(vars))
    }

    #[test]
    fn validate_with_defaults_empty_default_is_spins_error() {
        let err = validate(&["{{ webhook_origin }}"], &[("webhook_origin", Some(""))]).unwrap_err();
        assert!(
            matches!(&err, ManifestError::DefaultAllowedHost { resolved, .. } if resolved.is_empty()),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with(
                "using default variable value(s) with template \"{{ webhook_origin }}\" results in invalid config \"\": \"\" is not an allowed outbound host format.\nHosts must be"
            ),
            "{message}"
        );
        // Spin prints the template normalized, whatever the spacing.
        let err = validate(&["https://{{host}}"], &[("host", Some(""))]).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "using default variable value(s) with template \"https://{{ host }}\" results in invalid config \"https://\": Invalid allowed host \"\": empty host"
            ),
            "{err}"
        );
    }

    #[test]
    fn validate_with_defaults_valid_defaults_pass() {
        validate(
            &[
                "{{ origin }}",
                "redis://{{ host }}:{{ port }}",
                "https://example.com",
            ],
            &[
                ("origin", Some("http://webhook.invalid")),
                ("host", Some("127.0.0.1")),
                ("port", Some("6379")),
            ],
        )
        .unwrap();
        validate(&[], &[]).unwrap();
    }

    #[test]
    fn validate_with_defaults_skips_required_and_undeclared_variables() {
        // Spin cannot resolve these without a value, so it does not check them
        // at load time; start-up resolves and checks them.
        validate(&["{{ origin }}"], &[("origin", None)]).unwrap();
        validate(&["https://{{ nowhere }}/path"], &[]).unwrap();
        validate(&["{{ a }}{{ b }}"], &[("a", Some("")), ("b", None)]).unwrap();
    }

    #[test]
    fn validate_with_defaults_checks_literal_entries_and_syntax() {
        let err = validate(&["example.com"], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "\"example.com\" does not contain a scheme (e.g., 'http://' or '*://'){LEARN_MORE}"
            )
        );
        let err = validate(&[""], &[]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("\"\" is not an allowed outbound host format."),
            "{err}"
        );
        let err = validate(&["insecure:allow-all"], &[]).unwrap_err();
        assert!(err.to_string().contains("use '*://*:*' instead"), "{err}");
        let err = validate(&["https://{{ host"], &[("host", Some("h"))]).unwrap_err();
        assert!(
            matches!(err, ManifestError::UnterminatedTemplate { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("unmatched '{{' in template"),
            "{err}"
        );
    }

    #[test]
    fn allowed_hosts_unparseable_url_is_denied() {
        let all = hosts(&["*://*:*"]);
        assert!(!all.allows("not a url"));
        assert!(!all.allows("127.0.0.1:6379"));
        assert!(!all.allows("unix:/tmp/redis.sock"));
    }

    #[test]
    fn allowed_hosts_self_grants_no_absolute_url() {
        let h = hosts(&["http://self", "https://self.alt"]);
        assert!(!h.allows("http://self/"));
        assert!(!h.allows("http://127.0.0.1/"));
    }
}
