//! Outbound HTTP that cannot be turned against the network alertgate runs in (SSRF): names are
//! resolved by a resolver that drops private, loopback, link-local and other non-public
//! addresses, IP-literal URLs are checked the same way, redirects are never followed, and every
//! request has a timeout. `allow_private` lifts the address rule for local development and tests.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// True for addresses a server on the public internet can have.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // shared address space (CGNAT)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) // benchmarking
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        }
    }
}

struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// A client for calls to destinations users or senders name.
pub fn client(allow_private: bool, timeout: Duration) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("alertgate/", env!("CARGO_PKG_VERSION")));
    if !allow_private {
        b = b.dns_resolver(Arc::new(PublicOnly));
    }
    b.build().unwrap_or_else(|_| reqwest::Client::new())
}

/// Refuse a URL whose host is an IP literal outside the public internet (the resolver never
/// sees those).
pub fn check_url(url: &reqwest::Url, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => {
            Err(format!("{ip} is not a public address"))
        }
        Some(url::Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => {
            Err(format!("{ip} is not a public address"))
        }
        Some(_) => Ok(()),
        None => Err("the URL has no host".into()),
    }
}

/// Check a destination URL users give: https (or http with `allow_insecure`), a host, no
/// credentials in it, at most 2,048 characters; and, unless `allow_insecure`, no IP literal
/// outside the public internet and no name that is local by definition (`localhost`, a single
/// label, `.local`, `.internal`). Names are resolved only when used, by the public-only
/// resolver: a check here could be undone by DNS later anyway.
pub fn check_destination_url(raw: &str, allow_insecure: bool) -> Result<reqwest::Url, String> {
    if raw.len() > 2048 {
        return Err("the URL must be at most 2048 characters".into());
    }
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| format!("not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        "http" => {
            return Err(
                "the URL must use https (this server does not allow insecure destinations)".into(),
            )
        }
        other => return Err(format!("the URL must use https, not `{other}`")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not contain credentials".into());
    }
    check_url(&url, allow_insecure)?;
    if !allow_insecure {
        if let Some(url::Host::Domain(name)) = url.host() {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let local = name == "localhost"
                || !name.contains('.')
                || [".localhost", ".local", ".internal", ".localdomain"]
                    .iter()
                    .any(|s| name.ends_with(s));
            if local {
                return Err(format!("{name} is not a public host name"));
            }
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["52.94.1.1", "2600:1f18::1", "8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn ip_literal_urls_are_checked() {
        let u = reqwest::Url::parse("http://169.254.169.254/latest/meta-data").unwrap();
        assert!(check_url(&u, false).is_err());
        assert!(check_url(&u, true).is_ok());
        let u = reqwest::Url::parse("https://[::1]:8443/").unwrap();
        assert!(check_url(&u, false).is_err());
    }

    #[tokio::test]
    async fn the_client_refuses_names_that_resolve_to_private_addresses() {
        use std::error::Error as _;
        let c = client(false, Duration::from_secs(2));
        let err = c.get("http://localhost:9/").send().await.unwrap_err();
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            chain.push_str(&format!(" / {s}"));
            source = s.source();
        }
        assert!(chain.contains("resolves to no public address"), "{chain}");
    }

    #[test]
    fn destination_urls_need_https_and_a_public_host_unless_insecure_is_allowed() {
        for bad in [
            "http://hooks.example.com/x",
            "https://127.0.0.1:8443/x",
            "https://10.0.0.5/x",
            "https://localhost/x",
            "https://db.internal/x",
            "https://metadata/x",
            "https://user:pw@hooks.example.com/x",
            "ftp://hooks.example.com/x",
            "not a url",
        ] {
            assert!(check_destination_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_destination_url("https://hooks.example.com/x", false).is_ok());
        assert!(check_destination_url("http://127.0.0.1:9000/x", true).is_ok());
        assert!(check_destination_url("https://user:pw@127.0.0.1/x", true).is_err());
    }
}
