//! `allowed_outbound_hosts`: which network destinations a component may reach,
//! with Spin's semantics (`spin-outbound-networking-config`).
//!
//! An entry is `scheme://host[:port]`. Each part may be `*`; the host may be
//! `*.example.com` (any subdomain), an IP address, or a CIDR range
//! (`10.0.0.0/8`); the port may be a range `8000..8080` (end excluded). A
//! missing port means the scheme's well-known port, and a scheme without one
//! then needs an explicit port. Entries have their `{{ templates }}` expanded
//! before they get here; an entry that expanded to nothing is skipped, so an
//! optional endpoint variable left empty grants nothing.

use std::net::IpAddr;

use super::ManifestError;

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
    /// skipped, as Spin skips templates that resolve to nothing.
    pub fn parse(entries: &[String]) -> Result<Self, ManifestError> {
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
    /// Parses one non-empty entry; the error says what is wrong with it.
    fn parse(entry: &str) -> Result<Self, String> {
        if entry == "insecure:allow-all" {
            return Err(
                "`insecure:allow-all` is not allowed: use `*://*:*` to allow all outbound traffic"
                    .to_owned(),
            );
        }
        let Some((scheme, rest)) = entry.split_once("://") else {
            return Err(
                "no scheme: write `scheme://host[:port]` (e.g. `https://example.com`, `redis://127.0.0.1:6379`, `*://*:*`)"
                    .to_owned(),
            );
        };
        let scheme = parse_scheme(scheme)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = split_host_port(rest)?;
        let host = parse_host(host)?;
        let port = parse_port(port, scheme.as_deref())?;
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

/// `*` or an alphabetic scheme name.
fn parse_scheme(scheme: &str) -> Result<Option<String>, String> {
    if scheme == "*" {
        return Ok(None);
    }
    if scheme.starts_with('{') {
        return Err("scheme lists are not supported: write one entry per scheme".to_owned());
    }
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(format!(
            "invalid scheme {scheme:?}: only letters or `*` are allowed"
        ));
    }
    Ok(Some(scheme.to_ascii_lowercase()))
}

/// Splits `host[:port]`, rejecting a path (`host:port/path`, `host/path`).
fn split_host_port(rest: &str) -> Result<(&str, &str), String> {
    // A bracketed IPv6 address has colons of its own.
    let (host, after) = if rest.starts_with('[') {
        match rest.find(']') {
            Some(end) => rest.split_at(end + 1),
            None => return Err(format!("invalid host {rest:?}: unclosed `[`")),
        }
    } else {
        match rest.rfind(':') {
            Some(colon) => rest.split_at(colon),
            None => (rest, ""),
        }
    };
    let port = match after.strip_prefix(':') {
        Some(port) => port,
        None if after.is_empty() => "",
        None => return Err(format!("invalid host {rest:?}")),
    };
    if port.contains('/') {
        return Err(has_path());
    }
    if host.contains('/') && !is_cidr(host) {
        return Err(has_path());
    }
    Ok((host, port))
}

fn has_path() -> String {
    "has a path but is not allowed to: write only `scheme://host[:port]`".to_owned()
}

/// Whether `host` looks like `address/prefix`.
fn is_cidr(host: &str) -> bool {
    host.split_once('/')
        .is_some_and(|(ip, prefix)| ip.parse::<IpAddr>().is_ok() && prefix.parse::<u8>().is_ok())
}

fn parse_host(host: &str) -> Result<HostPattern, String> {
    match host {
        "*" => return Ok(HostPattern::Any),
        "self" | "self.alt" => return Ok(HostPattern::ToSelf),
        "" => return Err("no host: write `scheme://host[:port]`, or `*` for any host".to_owned()),
        _ => {}
    }
    if host.starts_with('{') {
        return Err("host lists are not supported: write one entry per host".to_owned());
    }
    if let Some((ip, prefix)) = host.split_once('/') {
        return parse_cidr(ip, prefix);
    }
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.contains('*') {
            return Err(format!(
                "invalid host {host:?}: `*` is allowed only as the whole host or as the first label (`*.example.com`)"
            ));
        }
        return match url::Host::parse(domain) {
            Ok(url::Host::Domain(domain)) => Ok(HostPattern::Subdomain(format!(".{domain}"))),
            Ok(_) => Err(format!(
                "invalid host {host:?}: a `*.` wildcard needs a domain, not an IP address"
            )),
            Err(e) => Err(format!("invalid host {host:?}: {e}")),
        };
    }
    if host.contains('*') {
        return Err(format!(
            "invalid host {host:?}: `*` is allowed only as the whole host or as the first label (`*.example.com`)"
        ));
    }
    url::Host::parse(host)
        .map(HostPattern::Literal)
        .map_err(|e| format!("invalid host {host:?}: {e}"))
}

/// `10.0.0.0/8`: the address is truncated to its prefix (as Spin does).
fn parse_cidr(ip: &str, prefix: &str) -> Result<HostPattern, String> {
    let invalid = || format!("invalid IP range {ip}/{prefix}");
    let ip: IpAddr = ip.parse().map_err(|_| invalid())?;
    let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(invalid());
    }
    Ok(HostPattern::Cidr(mask(ip, prefix), prefix))
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

fn parse_port(port: &str, scheme: Option<&str>) -> Result<PortPattern, String> {
    match port {
        "" => scheme
            .and_then(well_known_port)
            .map(PortPattern::Port)
            .ok_or_else(|| {
                format!(
                    "no port, and scheme `{}` has no default port: add one (`:6380`) or `:*`",
                    scheme.unwrap_or("*")
                )
            }),
        "*" => Ok(PortPattern::Any),
        _ if port.starts_with('{') => Err(
            "port lists are not supported: write one entry per port, or a range `start..end`"
                .to_owned(),
        ),
        _ => {
            let number = |p: &str| {
                p.parse::<u16>().map_err(|_| {
                    format!("invalid port {port:?}: expected a number, `*` or `start..end`")
                })
            };
            match port.split_once("..") {
                Some((start, end)) => Ok(PortPattern::Range(number(start)?, number(end)?)),
                None => Ok(PortPattern::Port(number(port)?)),
            }
        }
    }
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
                reason
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
        assert!(reason.contains("no default port"), "{reason}");
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
        assert!(reason.contains("no default port"), "{reason}");
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
        for entry in [
            "http://127.0.0.1:8080/hook",
            "https://example.com/api",
            "https://example.com/api/",
        ] {
            let reason = reason(entry);
            assert!(
                reason.contains("has a path but is not allowed to"),
                "{entry}: {reason}"
            );
        }
        // A trailing slash alone is not a path.
        assert!(hosts(&["https://example.com/"]).allows("https://example.com/x"));
    }

    #[test]
    fn allowed_hosts_malformed_entries_are_rejected() {
        assert!(reason("example.com").contains("no scheme"));
        assert!(reason("insecure:allow-all").contains("*://*:*"));
        assert!(reason("http://example.com:http").contains("invalid port"));
        assert!(reason("http://example.com:70000").contains("invalid port"));
        assert!(reason("http://a.*.com").contains("`*`"));
        assert!(reason("https://*.10.0.0.1").contains("domain"));
        assert!(reason("h2c://example.com:80").contains("invalid scheme"));
        assert!(reason("http://:80").contains("no host"));
        let err = AllowedHosts::parse(&["http//x".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("\"http//x\""), "{err}");
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
