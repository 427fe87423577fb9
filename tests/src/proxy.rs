//! A fault-injecting TCP proxy on loopback: a test puts it between one client and a server it
//! started, then partitions that client while others keep talking to the server.
//!
//! ```text
//! client ──► 127.0.0.1:proxy ──(to_server)──► 127.0.0.1:target
//!        ◄──────────────────  ◄(to_client)──
//! ```
//!
//! Each direction is set on its own: [`Fault::Pass`], [`Fault::Delay`] (every chunk held back
//! that long), [`Fault::Blackhole`] (sockets stay open, nothing is forwarded; what was held goes
//! through on [`FaultProxy::resume`], as TCP retransmission would deliver it after a partition
//! heals). [`FaultProxy::cut`] resets every open connection, [`FaultProxy::refuse`] closes new
//! ones as soon as they are accepted, [`FaultProxy::strand`] leaves every open connection
//! half-open for good (open, silent) while new ones pass. The proxy runs on a thread of its own and stops when
//! dropped. It only ever connects to `127.0.0.1`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What one direction does with the bytes it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward at once.
    Pass,
    /// Forward each chunk after this long.
    Delay(Duration),
    /// Forward nothing until the direction is set to something else.
    Blackhole,
}

/// A direction of the proxied connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server: commands.
    ToServer,
    /// Server to client: replies (and pushed messages).
    ToClient,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct State {
    to_server: Fault,
    to_client: Fault,
    /// Bumped by [`FaultProxy::cut`]: connections of an older generation close.
    generation: u64,
    /// Bumped by [`FaultProxy::strand`]: connections accepted before go silent for good.
    strand: u64,
    refuse: bool,
}

impl State {
    fn fault(&self, direction: Direction, strand: u64) -> Fault {
        if strand != self.strand {
            return Fault::Blackhole;
        }
        match direction {
            Direction::ToServer => self.to_server,
            Direction::ToClient => self.to_client,
        }
    }
}

/// The proxy; dropping it closes every connection and stops it.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    state: watch::Sender<State>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl FaultProxy {
    /// A proxy on a free loopback port to `127.0.0.1:target_port`, passing everything.
    pub fn start(target_port: u16) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fault-proxy")
            .enable_all()
            .build()
            .expect("the proxy's runtime");
        // Bound here, not by `block_on`: a test may start the proxy from inside its runtime.
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .expect("a loopback port for the proxy");
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener).expect("a tokio listener")
        };
        let port = listener.local_addr().expect("the proxy's address").port();
        let (state, watcher) = watch::channel(State {
            to_server: Fault::Pass,
            to_client: Fault::Pass,
            generation: 0,
            strand: 0,
            refuse: false,
        });
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let target = SocketAddr::from(([127, 0, 0, 1], target_port));
        runtime.spawn(accept_loop(
            listener,
            target,
            watcher,
            Arc::clone(&accepted),
        ));
        FaultProxy {
            port,
            state,
            runtime: Mutex::new(Some(runtime)),
            accepted,
        }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0` through the proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// How many connections it has accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sets one direction.
    pub fn set(&self, direction: Direction, fault: Fault) {
        self.state.send_modify(|state| match direction {
            Direction::ToServer => state.to_server = fault,
            Direction::ToClient => state.to_client = fault,
        });
    }

    /// Sets both directions.
    pub fn set_both(&self, fault: Fault) {
        self.set(Direction::ToServer, fault);
        self.set(Direction::ToClient, fault);
    }

    /// A partition: both directions blackholed, connections kept open.
    pub fn blackhole(&self) {
        self.set_both(Fault::Blackhole);
    }

    /// Resets every open connection (new ones are still accepted unless [`refuse`](Self::refuse)).
    pub fn cut(&self) {
        self.state.send_modify(|state| state.generation += 1);
    }

    /// Every connection open now stays open and forwards nothing, ever again (a half-open
    /// connection: a peer that vanished without a reset); new connections pass.
    pub fn strand(&self) {
        self.state.send_modify(|state| state.strand += 1);
    }

    /// Closes new connections as soon as they are accepted.
    pub fn refuse(&self) {
        self.state.send_modify(|state| state.refuse = true);
    }

    /// Back to passing everything in both directions and accepting connections.
    pub fn resume(&self) {
        self.state.send_modify(|state| {
            state.to_server = Fault::Pass;
            state.to_client = Fault::Pass;
            state.refuse = false;
        });
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.lock().ok().and_then(|mut r| r.take()) {
            runtime.shutdown_background();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    watcher: watch::Receiver<State>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
) {
    while let Ok((client, _)) = listener.accept().await {
        accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let state = *watcher.borrow();
        if state.refuse {
            let _ = client.set_zero_linger();
            drop(client);
            continue;
        }
        tokio::spawn(connection(client, target, watcher.clone(), state));
    }
}

/// One proxied connection, until either side closes or it is cut.
async fn connection(
    client: TcpStream,
    target: SocketAddr,
    mut watcher: watch::Receiver<State>,
    accepted_in: State,
) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let _ = client.set_zero_linger();
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let strand = accepted_in.strand;
    let upstream = pump(
        (client_read, server_write),
        (Direction::ToServer, strand),
        watcher.clone(),
    );
    let downstream = pump(
        (server_read, client_write),
        (Direction::ToClient, strand),
        watcher.clone(),
    );
    let cut = async move {
        while watcher.changed().await.is_ok() {
            if watcher.borrow().generation != accepted_in.generation {
                return;
            }
        }
    };
    // Whichever ends first ends the connection: both sockets are dropped (reset) with it.
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
        _ = cut => {}
    }
}

async fn pump(
    (mut from, mut to): (
        tokio::net::tcp::OwnedReadHalf,
        tokio::net::tcp::OwnedWriteHalf,
    ),
    (direction, strand): (Direction, u64),
    mut watcher: watch::Receiver<State>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        loop {
            let fault = watcher.borrow_and_update().fault(direction, strand);
            match fault {
                Fault::Pass => break,
                Fault::Delay(delay) => {
                    tokio::time::sleep(delay).await;
                    break;
                }
                Fault::Blackhole => {
                    if watcher.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
