//! Wiring: loads the AWS configuration, builds the targets, and runs the server or `check`.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};
use tracing::{error, info, warn};

use crate::aws::clients::{self, ClientFactory, load_aws_config};
use crate::aws::discovery::{self, Discovery, Fleet, Members};
use crate::config::{Cli, Output};
use crate::error::Error;
use crate::events::queue::Queue;
use crate::events::{EventsMetrics, Listener};
use crate::metrics::ExporterMetrics;
use crate::poller::Poller;
use crate::posture::Control;
use crate::report;
use crate::web::listen::Listeners;
use crate::web::reload::{ConfigWatcher, ReloadMetrics};
use crate::web::server::{self, Web};

/// The accounts to check, as the flags say. The flags are read (and a role ARN file parsed)
/// before anything touches AWS, so that bad input fails fast with one line.
async fn fleet(
    cli: &Cli,
    metrics: &ExporterMetrics,
    need_credentials: bool,
) -> Result<Fleet, Error> {
    // The role ARN file is read off the async workers, as every file is.
    let accounts = cli.accounts.clone();
    let discovery = tokio::task::spawn_blocking(move || accounts.discovery())
        .await
        .map_err(|err| Error::Config(format!("reading the accounts failed: {err}")))?
        .map_err(Error::Config)?;
    if let Some(external_id) = &cli.accounts.external_id {
        crate::redact::register_secret(external_id);
    }
    clients::check_environment()?;
    let config = load_aws_config(cli.poll.timeout).await;
    match clients::check_credentials(&config).await {
        Err(err) if need_credentials => return Err(err),
        // A server keeps running: the credentials may come (a role attached later), and every
        // check says what is missing until they do.
        Err(err) => warn!("{err}"),
        Ok(()) => {}
    }
    let factory = ClientFactory::new(&config, &metrics.api);
    if matches!(
        discovery,
        Discovery::Organization {
            members: Members::Root,
            ..
        }
    ) {
        root_access_enabled(&factory).await?;
    }
    let fleet = Fleet::new(
        &factory,
        discovery,
        cli.accounts.shard,
        cli.accounts.external_id.clone(),
    );
    Ok(if cli.accounts.root_activity {
        fleet.with_root_activity(cli.accounts.root_activity_interval)
    } else {
        fleet
    })
}

/// Refuses to start in `--organization.assume-root` mode unless the Organization has
/// `RootCredentialsManagement` enabled: without it every `AssumeRoot` would be denied, and an
/// exporter failing every member on every poll says less than one line at start-up.
async fn root_access_enabled(factory: &ClientFactory) -> Result<(), Error> {
    const HOW: &str = "enable it in the management account with `aws organizations enable-aws-service-access --service-principal iam.amazonaws.com` then `aws iam enable-organizations-root-credentials-management`";
    match discovery::organization_features(&factory.iam(None)).await {
        Ok(f) if f.root_credentials_management => {
            info!(
                organization_id = %f.organization_id,
                root_sessions = f.root_sessions,
                "centralized root access is enabled"
            );
            Ok(())
        }
        Ok(f) => Err(Error::Config(format!(
            "--organization.assume-root: RootCredentialsManagement is not enabled for {}; {HOW}",
            f.organization_id
        ))),
        // Trusted access for IAM off, a member account, or a denied call: in each case the
        // same line tells where to run and what to enable.
        Err(err) => Err(Error::Config(format!(
            "--organization.assume-root: cannot tell whether RootCredentialsManagement is enabled ({}: {}); run from the management account (or the IAM delegated administrator) and {HOW}",
            err.code(),
            first_line(&err.to_string()),
        ))),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// Polls once and prints the result; returns the process exit code.
pub async fn check(cli: &Cli, output: Output, controls: &[Control]) -> Result<u8, Error> {
    let metrics = ExporterMetrics::new(&crate::BUILD);
    let fleet = fleet(cli, &metrics, true).await?;
    let (mut poller, _) = Poller::new(fleet, cli.poll.concurrency.into(), metrics);
    let snapshot = poller.poll_once().await;
    let out = match output {
        Output::Table => report::table(&snapshot.accounts, controls),
        Output::Json => report::json(&snapshot.accounts, controls),
    };
    // The same redaction as the logs': the output is pasted into tickets and CI logs.
    print!("{}", crate::redact::redact(&out));
    Ok(report::Totals::of(&snapshot.accounts, controls).exit_code())
}

/// Loads `--web.config.file`, if given; a bad file stops the exporter before it serves.
pub async fn web_config(
    cli: &Cli,
    metrics: &ExporterMetrics,
) -> Result<Option<Arc<ConfigWatcher>>, Error> {
    let Some(path) = cli.web.config_file.clone() else {
        return Ok(None);
    };
    let reload = ReloadMetrics::register(metrics.per_scrape());
    // Read off the async workers, as every later read of it is.
    let watcher = tokio::task::spawn_blocking(move || ConfigWatcher::load(&path, reload))
        .await
        .map_err(|err| Error::Config(format!("loading the web configuration failed: {err}")))??;
    Ok(Some(Arc::new(watcher)))
}

/// Binds the listeners (or takes systemd's); a bad or busy address is reported before anything
/// else starts.
pub async fn bind(cli: &Cli) -> Result<Listeners, Error> {
    if cli.web.systemd_socket {
        Listeners::from_systemd()
    } else {
        Listeners::bind(&cli.web.listen_address).await
    }
}

/// Serves metrics until SIGINT or SIGTERM.
pub async fn serve(cli: &Cli, listeners: Listeners) -> Result<(), Error> {
    let metrics = ExporterMetrics::new(&crate::BUILD);
    metrics.set_poll_interval(cli.poll.interval);
    metrics
        .per_scrape()
        .register(Box::new(crate::logging::dropped_lines()))
        .expect("registered once");
    let guard = web_config(cli, &metrics).await?;
    let fleet = fleet(cli, &metrics, false).await?;
    let (poller, snapshots) = Poller::new(fleet, cli.poll.concurrency.into(), metrics.clone());
    let listener = match &cli.events.sqs_queue_url {
        Some(url) => {
            let config = load_aws_config(cli.poll.timeout).await;
            let queue = Queue::new(&ClientFactory::new(&config, &metrics.api), url);
            let events = EventsMetrics::register(metrics.per_scrape());
            info!(queue = %url.url, "reading CloudTrail events from SQS");
            Some(Listener::new(queue, poller.rechecker(), events))
        }
        None => None,
    };
    let tls = guard.as_ref().is_some_and(|g| g.tls_on());
    let web = Web {
        snapshots,
        metrics,
        telemetry_path: cli.web.telemetry_path.clone(),
        poll_interval: cli.poll.interval,
        guard,
    };
    let addrs = listeners.local_addrs();
    let all: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    info!(
        version = crate::VERSION,
        revision = crate::REVISION,
        // The first address alone too, for scripts that read one.
        address = %all.first().map_or("", String::as_str),
        addresses = %all.join(","),
        tls,
        poll_interval = %humantime::format_duration(cli.poll.interval),
        "serving"
    );

    let (stop, stopped) = watch::channel(false);
    let until_stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let interval = cli.poll.interval;
    let (poll_stop, events_stop) = (
        until_stopped(stopped.clone()),
        until_stopped(stopped.clone()),
    );
    // The listener shares the poller's task: if either panics, the exporter stops as for a
    // poller that stopped, instead of serving without what it claims to do.
    let mut poll = tokio::spawn(async move {
        match listener {
            Some(listener) => {
                tokio::join!(poller.run(interval, poll_stop), listener.run(events_stop));
            }
            None => poller.run(interval, poll_stop).await,
        }
    });
    let mut server = tokio::spawn(server::serve(listeners, web, until_stopped(stopped)));

    let outcome = supervise(&mut poll, &mut server, shutdown_signal()).await;
    match &outcome {
        Ok(()) => info!("shutting down"),
        Err(err) => error!(error = %err, "exiting"),
    }
    let _ = stop.send(true);
    let _ = tokio::join!(poll, server);
    outcome
}

/// Waits for the shutdown signal. The poller and the server run until then: if either ends
/// first, for whatever reason, the exporter must not stay up serving frozen metrics (or
/// nothing) with `/healthz` still green, so it is an error and the process exits non-zero.
async fn supervise(
    poll: &mut JoinHandle<()>,
    server: &mut JoinHandle<()>,
    signal: impl Future<Output = ()>,
) -> Result<(), Error> {
    let stopped = |task: &'static str, ended: Result<(), JoinError>| Error::Stopped {
        task,
        reason: match ended {
            Ok(()) => "it returned".to_owned(),
            Err(err) if err.is_panic() => {
                let payload = err.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".to_owned());
                format!("it panicked: {message}")
            }
            Err(_) => "it was cancelled".to_owned(),
        },
    };
    tokio::select! {
        () = signal => Ok(()),
        ended = poll => Err(stopped("the poller", ended)),
        ended = server => Err(stopped("the HTTP server", ended)),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::pending;

    fn spawn_pending() -> JoinHandle<()> {
        tokio::spawn(pending())
    }

    #[tokio::test]
    async fn the_exporter_stops_when_the_poller_or_the_server_ends() {
        let mut poll = tokio::spawn(async { panic!("log writer failed") });
        let mut server = spawn_pending();
        let err = supervise(&mut poll, &mut server, pending())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the poller stopped: it panicked: log writer failed; exiting so that a supervisor \
             restarts the exporter"
        );
        server.abort();

        let mut poll = spawn_pending();
        let mut server = tokio::spawn(async {});
        let err = supervise(&mut poll, &mut server, pending())
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the HTTP server stopped: it returned"),
            "{err}"
        );

        let mut server = spawn_pending();
        assert!(
            supervise(&mut poll, &mut server, async {}).await.is_ok(),
            "a shutdown signal is not an error"
        );
    }
}
