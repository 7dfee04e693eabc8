//! A real HTTP listener for webhook tests: records every request (headers, raw body, arrival time)
//! and answers with a scripted status (and, for redirects, a `Location`), on a free local port.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the listener received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the listener answers: the status for the n-th request (0-based).
pub type Script = Box<dyn Fn(usize) -> u16 + Send + Sync>;

pub struct WebhookListener {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl WebhookListener {
    /// Starts a listener answering each request with `script(n)`.
    pub fn start(script: Script) -> Self {
        Self::start_with_headers(script, Vec::new())
    }

    /// A listener answering every request `302 Found` with `Location: location`.
    pub fn redirecting_to(location: &str) -> Self {
        Self::start_with_headers(
            Box::new(|_| 302),
            vec![("Location".to_string(), location.to_string())],
        )
    }

    fn start_with_headers(script: Script, answer_headers: Vec<(String, String)>) -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("listen");
        let port = server.server_addr().to_ip().expect("ip address").port();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                let headers = request
                    .headers()
                    .iter()
                    .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_string()))
                    .collect();
                let n = {
                    let mut log = log.lock().expect("log");
                    log.push(Received {
                        at: Instant::now(),
                        headers,
                        body,
                    });
                    log.len() - 1
                };
                let mut response =
                    tiny_http::Response::from_string("ok").with_status_code(script(n));
                for (name, value) in &answer_headers {
                    if let Ok(header) =
                        tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
                    {
                        response.add_header(header);
                    }
                }
                let _ = request.respond(response);
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/dyno-webhooks"),
            received,
        }
    }

    /// A listener that acknowledges everything.
    pub fn accepting() -> Self {
        Self::start(Box::new(|_| 200))
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("log").clone()
    }

    /// Waits until at least `n` requests arrived (or `timeout` passed) and returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n || started.elapsed() > timeout {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
