//! [`Url`]: a parsed database URL (SQLAlchemy's `sqlalchemy.engine.URL` / `make_url`).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The database family a URL names (its `dialect` part, before any `+driver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// `sqlite://`
    Sqlite,
    /// `postgresql://` or `postgres://`
    Postgresql,
}

/// A database URL, `dialect[+driver]://[user[:password]@][host][:port][/database][?key=value&...]`
/// (SQLAlchemy's `URL`).
///
/// SQLite: `sqlite://` (or `sqlite:///:memory:`) is a private in-memory database,
/// `sqlite:///relative.db` a path relative to the working directory, `sqlite:////abs/path.db` an
/// absolute path. PostgreSQL: `postgresql://user:pass@host:5432/db?application_name=x`
/// (`postgres://` is accepted too). User, password and database are percent-decoded.
///
/// `Display` hides the password, as SQLAlchemy's `repr(url)` does.
///
/// # Example
/// ```
/// use calcine_engine::{Backend, Url};
/// let url: Url = "postgresql://scott:tiger@localhost:5432/test?application_name=app".parse()?;
/// assert_eq!(url.backend(), Backend::Postgresql);
/// assert_eq!(url.port(), Some(5432));
/// assert_eq!(url.to_string(), "postgresql://scott:***@localhost:5432/test?application_name=app");
/// assert!("mysql://localhost/db".parse::<Url>().is_err());
/// # Ok::<(), calcine_engine::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    backend: Backend,
    scheme: String,
    driver: Option<String>,
    username: Option<String>,
    password: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
    query: Vec<(String, String)>,
}

impl Url {
    /// Parses `url`.
    ///
    /// # Errors
    /// [`InvalidRequest`](crate::ErrorKind::InvalidRequest) naming what is wrong: no `://`, an
    /// unknown dialect or driver, a bad port, a bad percent escape, a host in a SQLite URL.
    pub fn parse(url: &str) -> Result<Url> {
        let bad = |what: String| {
            Error::invalid_request(format!(
                "Could not parse SQLAlchemy-style URL {:?}: {what}",
                redact(url)
            ))
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            bad("expected `dialect://...`, e.g. `sqlite://`, `sqlite:///file.db` or `postgresql://user@host/db`".into())
        })?;
        let (dialect, driver) = match scheme.split_once('+') {
            Some((d, drv)) => (d, Some(drv.to_owned())),
            None => (scheme, None),
        };
        let backend = match dialect.to_ascii_lowercase().as_str() {
            "sqlite" => Backend::Sqlite,
            "postgresql" | "postgres" => Backend::Postgresql,
            other => {
                return Err(Error::invalid_request(format!(
                    "Can't load plugin: sqlalchemy.dialects:{other}; calcine supports the `sqlite` and `postgresql` dialects"
                )));
            }
        };
        let known_drivers: &[&str] = match backend {
            Backend::Sqlite => &["rusqlite", "pysqlite"],
            Backend::Postgresql => &["tokio_postgres"],
        };
        if let Some(drv) = &driver {
            if !known_drivers.contains(&drv.as_str()) {
                return Err(Error::invalid_request(format!(
                    "Can't load plugin: sqlalchemy.dialects:{dialect}.{drv}; known drivers for {dialect}: {}",
                    known_drivers.join(", ")
                )));
            }
        }
        let (rest, query_text) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let mut query = Vec::new();
        for pair in query_text
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            query.push((
                percent_decode(k).map_err(&bad)?,
                percent_decode(v).map_err(&bad)?,
            ));
        }
        let mut out = Url {
            backend,
            scheme: scheme.to_owned(),
            driver,
            username: None,
            password: None,
            host: None,
            port: None,
            database: None,
            query,
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if backend == Backend::Sqlite {
            if !authority.is_empty() {
                return Err(bad(format!(
                    "a SQLite URL has no host (found {authority:?}); use `sqlite:///relative.db` or `sqlite:////absolute/path.db`"
                )));
            }
            out.database = path
                .filter(|p| !p.is_empty() && *p != ":memory:")
                .map(|p| percent_decode(p).map_err(&bad))
                .transpose()?;
            return Ok(out);
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if let Some(u) = userinfo {
            let (user, pass) = match u.split_once(':') {
                Some((user, pass)) => (user, Some(pass)),
                None => (u, None),
            };
            out.username = Some(percent_decode(user).map_err(&bad)?).filter(|s| !s.is_empty());
            out.password = pass.map(|p| percent_decode(p).map_err(&bad)).transpose()?;
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unterminated `[` in an IPv6 host".into()))?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        out.host = Some(percent_decode(host).map_err(&bad)?).filter(|s| !s.is_empty());
        if let Some(p) = port.filter(|p| !p.is_empty()) {
            out.port = Some(p.parse().map_err(|_| {
                bad(format!(
                    "invalid port {p:?}; a port is a number from 0 to 65535"
                ))
            })?);
        }
        out.database = path
            .filter(|p| !p.is_empty())
            .map(|p| percent_decode(p).map_err(&bad))
            .transpose()?;
        Ok(out)
    }

    /// The database family.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The driver named after `+` in the scheme, if any.
    pub fn driver(&self) -> Option<&str> {
        self.driver.as_deref()
    }

    /// The user name.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The password.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The host.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The port.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The database name (PostgreSQL) or file path (SQLite; `None` for in-memory).
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The query options, in order.
    pub fn query(&self) -> &[(String, String)] {
        &self.query
    }

    /// Whether this is an in-memory SQLite database.
    pub fn is_memory(&self) -> bool {
        self.backend == Backend::Sqlite && self.database.is_none()
    }
}

impl FromStr for Url {
    type Err = Error;
    fn from_str(s: &str) -> Result<Url> {
        Url::parse(s)
    }
}

impl TryFrom<&str> for Url {
    type Error = Error;
    fn try_from(s: &str) -> Result<Url> {
        Url::parse(s)
    }
}

impl TryFrom<String> for Url {
    type Error = Error;
    fn try_from(s: String) -> Result<Url> {
        Url::parse(&s)
    }
}

impl TryFrom<&String> for Url {
    type Error = Error;
    fn try_from(s: &String) -> Result<Url> {
        Url::parse(s)
    }
}

impl TryFrom<&Url> for Url {
    type Error = Error;
    fn try_from(u: &Url) -> Result<Url> {
        Ok(u.clone())
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if let Some(u) = &self.username {
            f.write_str(u)?;
            if self.password.is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        }
        if let Some(h) = &self.host {
            if h.contains(':') {
                write!(f, "[{h}]")?
            } else {
                f.write_str(h)?
            }
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        if let Some(d) = &self.database {
            write!(f, "/{d}")?;
        }
        for (i, (k, v)) in self.query.iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Url({self})")
    }
}

/// `url` with the password replaced, for error messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, _)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}", &rest[userinfo.len() + 1..])
        }
        _ => url.to_owned(),
    }
}

fn percent_decode(s: &str) -> std::result::Result<String, String> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).filter(|h| h.len() == 2);
            let b = hex
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent escape at byte {i} of {s:?}"))?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("percent escapes in {s:?} are not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_forms() {
        assert!(Url::parse("sqlite://").unwrap().is_memory());
        assert!(Url::parse("sqlite:///:memory:").unwrap().is_memory());
        assert_eq!(
            Url::parse("sqlite:///rel.db").unwrap().database(),
            Some("rel.db")
        );
        assert_eq!(
            Url::parse("sqlite:////abs/p.db").unwrap().database(),
            Some("/abs/p.db")
        );
        let e = Url::parse("sqlite://host/x.db").unwrap_err();
        assert!(
            e.is_invalid_request() && e.to_string().contains("no host"),
            "{e}"
        );
    }

    #[test]
    fn postgres_forms() {
        let u = Url::parse("postgres://u%40x:p%3Aw@[::1]:55432/my%20db?a=1&b=two").unwrap();
        assert_eq!(u.backend(), Backend::Postgresql);
        assert_eq!(u.username(), Some("u@x"));
        assert_eq!(u.password(), Some("p:w"));
        assert_eq!(u.host(), Some("::1"));
        assert_eq!(u.port(), Some(55432));
        assert_eq!(u.database(), Some("my db"));
        assert_eq!(
            u.query(),
            &[("a".into(), "1".into()), ("b".into(), "two".into())]
        );
        assert!(!u.to_string().contains("p:w"));
        let u = Url::parse("postgresql://localhost").unwrap();
        assert_eq!(
            (u.host(), u.port(), u.database()),
            (Some("localhost"), None, None)
        );
    }

    #[test]
    fn malformed_urls_are_typed_errors() {
        for (url, needle) in [
            ("nonsense", "expected `dialect://"),
            ("mysql://h/db", "sqlalchemy.dialects:mysql"),
            ("sqlite+odbc://", "known drivers"),
            ("postgresql://u:secret@h:99999/db", "invalid port"),
            ("postgresql://h:12ab/db", "invalid port"),
            ("postgresql://[::1/db", "IPv6"),
            ("postgresql://h/d%zz", "percent escape"),
        ] {
            let e = Url::parse(url).unwrap_err();
            assert!(e.is_invalid_request(), "{url}: {e:?}");
            assert!(e.to_string().contains(needle), "{url}: {e}");
            assert!(
                !e.to_string().contains("secret"),
                "{url}: password leaked: {e}"
            );
        }
    }
}
