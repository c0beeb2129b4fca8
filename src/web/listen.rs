//! Where the server listens: one or more addresses (`--web.listen-address`, repeatable), where
//! `:PORT` means every interface, IPv6 and IPv4 alike, as Go exporters do; or the sockets that
//! systemd passes to a socket-activated service (`--web.systemd-socket`).

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;
use std::task::Poll;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

use crate::error::Error;

/// How many connections may wait to be accepted.
const BACKLOG: i32 = 1024;

/// One `--web.listen-address`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenAddress {
    /// `:PORT`: every interface, IPv6 and IPv4.
    Any(u16),
    /// `HOST:PORT` or `[V6]:PORT`, resolved once at start-up.
    Addr(SocketAddr),
}

impl FromStr for ListenAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<ListenAddress, String> {
        let bad = || format!("expected HOST:PORT, [IPV6]:PORT or :PORT, got {s:?}");
        if let Some(port) = s.strip_prefix(':') {
            return port.parse().map(ListenAddress::Any).map_err(|_| bad());
        }
        s.to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .map(ListenAddress::Addr)
            .ok_or_else(bad)
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::Any(port) => write!(f, ":{port}"),
            ListenAddress::Addr(addr) => write!(f, "{addr}"),
        }
    }
}

/// The sockets the server accepts connections on.
#[derive(Debug)]
pub struct Listeners(Vec<TcpListener>);

impl Listeners {
    /// Binds every address; a bad or busy one is an error naming it.
    pub async fn bind(addresses: &[ListenAddress]) -> Result<Listeners, Error> {
        let mut listeners = Vec::with_capacity(addresses.len());
        for address in addresses {
            let bound = match address {
                ListenAddress::Any(port) => bind_any(*port).await,
                ListenAddress::Addr(addr) => TcpListener::bind(addr).await,
            };
            listeners.push(bound.map_err(|source| Error::Bind {
                addr: address.to_string(),
                source,
            })?);
        }
        Ok(Listeners(listeners))
    }

    /// The sockets systemd passed (`LISTEN_FDS`, `LISTEN_PID`), as a `.socket` unit does.
    pub fn from_systemd() -> Result<Listeners, Error> {
        let mut fds = listenfd::ListenFd::from_env();
        let mut listeners = Vec::new();
        for i in 0..fds.len() {
            let taken = fds.take_tcp_listener(i).and_then(|l| match l {
                Some(l) => l
                    .set_nonblocking(true)
                    .and_then(|()| TcpListener::from_std(l)),
                None => Err(io::Error::other("not a TCP socket")),
            });
            listeners.push(taken.map_err(|err| {
                Error::Config(format!(
                    "--web.systemd-socket: socket {i} from systemd: {err}"
                ))
            })?);
        }
        if listeners.is_empty() {
            return Err(Error::Config(
                "--web.systemd-socket: systemd passed no socket (LISTEN_FDS and LISTEN_PID are \
                 not set for this process): start it through its .socket unit"
                    .to_owned(),
            ));
        }
        Ok(Listeners(listeners))
    }

    /// The addresses actually bound (with the ports the system chose for port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.0.iter().filter_map(|l| l.local_addr().ok()).collect()
    }

    /// The next connection on any of the sockets, with Nagle's algorithm off.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = poll_fn(|cx| {
            for listener in &self.0 {
                if let Poll::Ready(accepted) = listener.poll_accept(cx) {
                    return Poll::Ready(accepted);
                }
            }
            Poll::Pending
        })
        .await?;
        // A response bigger than the socket's send buffer ends in a short segment, which Nagle
        // holds back until the client acknowledges the one before, and clients delay that
        // acknowledgement by up to 40 ms: measured here, the plain /metrics of 1000 accounts
        // had a p90 of 33 ms against nginx's 2 ms (nginx sets TCP_NODELAY too). A failure
        // costs only that latency, so it is not a reason to drop the connection.
        let _ = stream.set_nodelay(true);
        Ok((stream, peer))
    }
}

/// Every interface on `port`: one IPv6 socket that takes IPv4 too, whatever the host's
/// `net.ipv6.bindv6only`; a host without IPv6 gets an IPv4 socket instead.
async fn bind_any(port: u16) -> io::Result<TcpListener> {
    match dual_stack(port) {
        Ok(listener) => Ok(listener),
        Err(err) if no_ipv6(&err) => {
            TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))).await
        }
        Err(err) => Err(err),
    }
}

fn dual_stack(port: u16) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_only_v6(false)?;
    // As tokio's own bind does, so that a restart does not wait out TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}

/// Whether an error says the host has no IPv6, rather than that the port is taken.
fn no_ipv6(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::AddrNotAvailable | io::ErrorKind::Unsupported
    ) || err.raw_os_error() == Some(97) // EAFNOSUPPORT on Linux
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_parse() {
        let cases = [
            (":10466", Some(ListenAddress::Any(10466))),
            (
                "127.0.0.1:9",
                Some(ListenAddress::Addr("127.0.0.1:9".parse().unwrap())),
            ),
            (
                "[::1]:80",
                Some(ListenAddress::Addr("[::1]:80".parse().unwrap())),
            ),
            ("10466", None),
            (":", None),
            (":99999", None),
            ("not an address", None),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<ListenAddress>().ok(), want, "{input}");
        }
        assert!(matches!(
            "localhost:10466".parse::<ListenAddress>(),
            Ok(ListenAddress::Addr(a)) if a.port() == 10466
        ));
        assert_eq!(ListenAddress::Any(10466).to_string(), ":10466");
    }

    #[tokio::test]
    async fn every_interface_means_ipv4_and_ipv6() {
        let listeners = Listeners::bind(&[ListenAddress::Any(0)]).await.unwrap();
        let port = listeners.local_addrs()[0].port();
        tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .expect("IPv4");
        // Hosts without IPv6 fall back to IPv4 only.
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            tokio::net::TcpStream::connect((Ipv6Addr::LOCALHOST, port))
                .await
                .expect("IPv6");
        }
    }
}
