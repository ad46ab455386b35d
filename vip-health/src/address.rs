//! The syntax of what a check points at: `http(s)://` URLs ([`ParsedUrl`]), `host:port`
//! addresses, interface names and Kubernetes node names. Pure string rules, no I/O.

/// A validated `http://` or `https://` URL split for connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParsedUrl {
    /// `https://`.
    pub https: bool,
    /// Host without IPv6 brackets.
    pub host: String,
    /// Port, explicit or the scheme's default.
    pub port: u16,
    /// `host[:port]` as written in the URL, for the Host header.
    pub authority: String,
    /// Path and query, at least `/`.
    pub path_and_query: String,
}

impl ParsedUrl {
    /// Parses and checks an `http://` or `https://` URL.
    ///
    /// # Errors
    /// A sentence saying what is wrong.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| {
            format!("`{url}` is not a URL ({e}): write http://HOST[:PORT]/PATH or https://...")
        })?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(format!(
                    "`{url}`: the scheme must be http or https, not {other}"
                ));
            }
            None => {
                return Err(format!(
                    "`{url}` has no scheme: write http://HOST[:PORT]/PATH or https://..."
                ));
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("`{url}` has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!(
                "`{url}`: credentials in the URL are not supported; use bearer_token_file"
            ));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(format!("`{url}` has no host"));
        }
        let port = match authority.port_u16() {
            Some(0) => return Err(format!("`{url}`: port 0")),
            Some(p) => p,
            None if https => 443,
            None => 80,
        };
        let path_and_query = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let path_and_query = if path_and_query.is_empty() {
            "/".to_owned()
        } else {
            path_and_query
        };
        Ok(Self {
            https,
            host,
            port,
            authority: authority.as_str().to_owned(),
            path_and_query,
        })
    }
}

/// Parses `host:port` (IPv6 bracketed) into a bare host and a port.
pub(crate) fn parse_host_port(address: &str) -> Result<(String, u16), String> {
    let fail = |why: &str| {
        Err(format!(
            "`{address}` is not host:port ({why}); write e.g. 127.0.0.1:6443, \
             localhost:6443 or [::1]:6443"
        ))
    };
    let Some((host, port)) = address.rsplit_once(':') else {
        return fail("no port");
    };
    let host = if let Some(inner) = host.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return fail("unclosed `[`");
        };
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return fail("not an IPv6 address inside `[]`");
        }
        inner
    } else {
        if host.contains(':') {
            return fail("an IPv6 address needs brackets");
        }
        host
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return fail("no host");
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok((host.to_owned(), p)),
        _ => fail("the port must be 1..65535"),
    }
}

/// Checks a Linux interface name (what `/sys/class/net/NAME` accepts).
pub(crate) fn check_interface_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an interface name (1 to 15 characters, no `/`, `:` or spaces)"
        ))
    }
}

/// Checks a Kubernetes node name (a DNS subdomain).
pub(crate) fn check_node_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !name.starts_with(['-', '.'])
        && !name.ends_with(['-', '.']);
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a Kubernetes node name (lowercase letters, digits, `-` and `.`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_host_port;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("127.0.0.1:6443"),
            Ok(("127.0.0.1".into(), 6443))
        );
        assert_eq!(parse_host_port("[::1]:6443"), Ok(("::1".into(), 6443)));
        assert_eq!(
            parse_host_port("localhost:80"),
            Ok(("localhost".into(), 80))
        );
        for bad in [
            "::1:6443",
            "[::1:6443",
            "host",
            "host:0",
            "host:x",
            ":80",
            "[zz]:80",
        ] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
    }
}
