//! Wiring: loads the AWS configuration, builds the targets, and runs the server or `check`.

use std::sync::Arc;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::aws::clients::{self, ClientFactory, load_aws_config};
use crate::aws::discovery::Fleet;
use crate::config::{Cli, Output};
use crate::error::Error;
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
    let discovery = cli.accounts.discovery().map_err(Error::Config)?;
    clients::check_environment()?;
    let config = load_aws_config(cli.poll.timeout).await;
    match clients::check_credentials(&config).await {
        Err(err) if need_credentials => return Err(err),
        // A server keeps running: the credentials may come (a role attached later), and every
        // check says what is missing until they do.
        Err(err) => warn!("{err}"),
        Ok(()) => {}
    }
    Ok(Fleet::new(
        &ClientFactory::new(&config, &metrics.api),
        discovery,
        cli.accounts.shard,
        cli.accounts.external_id.clone(),
    ))
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
    print!("{out}");
    Ok(report::Totals::of(&snapshot.accounts, controls).exit_code())
}

/// Loads `--web.config.file`, if given; a bad file stops the exporter before it serves.
pub fn web_config(
    cli: &Cli,
    metrics: &ExporterMetrics,
) -> Result<Option<Arc<ConfigWatcher>>, Error> {
    let Some(path) = &cli.web.config_file else {
        return Ok(None);
    };
    let watcher = ConfigWatcher::load(path, ReloadMetrics::register(metrics.per_scrape()))?;
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
    let guard = web_config(cli, &metrics)?;
    let fleet = fleet(cli, &metrics, false).await?;
    let (poller, snapshots) = Poller::new(fleet, cli.poll.concurrency.into(), metrics.clone());
    let tls = guard
        .as_ref()
        .is_some_and(|g| g.for_connection().tls.is_some());
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
    let poll = tokio::spawn(poller.run(cli.poll.interval, until_stopped(stopped.clone())));
    let server = tokio::spawn(server::serve(listeners, web, until_stopped(stopped)));

    shutdown_signal().await;
    info!("shutting down");
    let _ = stop.send(true);
    let _ = tokio::join!(poll, server);
    Ok(())
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
