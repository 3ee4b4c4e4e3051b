//! Prometheus metrics of the API: requests by route and status, latency, pool usage, and
//! notifications by status (read at scrape time).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use issue_tracker_persistence::Database;

/// The registry and the instruments.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    notifications: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Creates and registers the instruments.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status.",
            ),
            &["route", "method", "status"],
        )
        .expect("metric definition");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route"],
        )
        .expect("metric definition");
        let pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state."),
            &["state"],
        )
        .expect("metric definition");
        let notifications = IntGaugeVec::new(
            Opts::new("notifications", "Notifications by status."),
            &["status"],
        )
        .expect("metric definition");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(pool.clone()),
            Box::new(notifications.clone()),
        ] {
            registry.register(collector).expect("metric registration");
        }
        Metrics {
            registry,
            requests,
            latency,
            pool,
            notifications,
        }
    }

    /// Records one request. `route` is the matched pattern or "unmatched" (never the raw path: ids
    /// would make one series per issue) and `method` a [`method_label`]: the label sets stay
    /// bounded whatever clients send.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency.with_label_values(&[route]).observe(seconds);
    }

    /// The text exposition, with the pool and notification gauges refreshed.
    pub fn render(&self, db: &Database, notifications: &[(String, i64)]) -> String {
        let (connections, idle) = db.pool_state();
        self.pool
            .with_label_values(&["open"])
            .set(connections as i64);
        self.pool.with_label_values(&["idle"]).set(idle as i64);
        self.pool
            .with_label_values(&["in_use"])
            .set(connections.saturating_sub(idle) as i64);
        self.pool
            .with_label_values(&["max"])
            .set(db.max_connections() as i64);
        for status in issue_tracker_domain::NotificationStatus::ALL {
            let count = notifications
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map_or(0, |(_, n)| *n);
            self.notifications
                .with_label_values(&[status.as_str()])
                .set(count);
        }
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// The `method` label of a request: the standard methods by name, anything invented by a client
/// as `OTHER`, so that clients cannot create new series.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}
