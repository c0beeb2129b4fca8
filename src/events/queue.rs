//! The SQS side: the queue's address, long-polled receives, batched deletes, and the backoff
//! after a failed receive.

use std::time::Duration;

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;

use crate::aws::clients::ClientFactory;
use crate::aws::errors::sdk_error;
use crate::error::Error;

/// How long one `ReceiveMessage` waits for a message (long polling): SQS's maximum, which
/// costs one request per 20 s on an idle queue and answers the moment a message arrives.
pub const WAIT: Duration = Duration::from_secs(20);
/// Messages asked for per receive: SQS's maximum.
pub const BATCH: i32 = 10;
/// How long a received message stays invisible to other receivers. A posture event's message
/// is deleted only once its re-check is published, which may wait for a poll's check of the
/// same account and then take several IAM calls of up to `--poll.timeout` each; if it came
/// back before that, it would be received and checked again.
pub const VISIBILITY: Duration = Duration::from_secs(300);
/// The first pause after a failed receive; it doubles with each failure in a row...
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// ...up to this, so that a queue that comes back is read again within a minute.
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// A queue URL as `--events.sqs-queue-url` takes it:
/// `https://sqs.REGION.amazonaws.com/ACCOUNT_ID/NAME` (or any http(s) host, for a stand-in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrl {
    /// The URL as given.
    pub url: String,
    /// The region named in an AWS host name; the SQS client signs for it and sends there.
    pub region: Option<String>,
}

impl std::str::FromStr for QueueUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<QueueUrl, String> {
        const SHAPE: &str = "expected https://sqs.REGION.amazonaws.com/ACCOUNT_ID/QUEUE_NAME";
        let uri: hyper::Uri = s.parse().map_err(|_| format!("not a URL ({SHAPE})"))?;
        let host = match (uri.scheme_str(), uri.host()) {
            (Some("http" | "https"), Some(host)) if !host.is_empty() => host.to_ascii_lowercase(),
            _ => {
                return Err(format!(
                    "not an http:// or https:// URL with a host ({SHAPE})"
                ));
            }
        };
        let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
        let [account, name] = segments.as_slice() else {
            return Err(format!("the path is not /ACCOUNT_ID/QUEUE_NAME ({SHAPE})"));
        };
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{account:?} is not a 12-digit account id ({SHAPE})"
            ));
        }
        // SQS queue names: 1-80 letters, digits, hyphens and underscores (a FIFO queue's
        // ends in .fifo, which counts).
        let base = name.strip_suffix(".fifo").unwrap_or(name);
        if name.is_empty()
            || name.len() > 80
            || !base
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!("{name:?} is not an SQS queue name ({SHAPE})"));
        }
        // sqs.REGION.amazonaws.com[.cn], or the legacy REGION.queue.amazonaws.com.
        let region = host
            .strip_prefix("sqs.")
            .and_then(|h| h.split_once('.'))
            .filter(|(_, rest)| rest.starts_with("amazonaws."))
            .map(|(region, _)| region)
            .or_else(|| {
                host.split_once(".queue.amazonaws.")
                    .map(|(region, _)| region)
            })
            .map(str::to_owned);
        Ok(QueueUrl {
            url: s.to_owned(),
            region,
        })
    }
}

/// One received message: its receipt handle and body. The body is never logged: a CloudTrail
/// event may carry e-mail addresses and other personal data.
#[derive(Debug)]
pub struct Message {
    /// What deletes it.
    pub receipt: String,
    /// SQS's id for it, which logs may name.
    pub id: String,
    /// The body, an EventBridge event if all is well.
    pub body: String,
}

/// The queue and the SQS client that reads it.
#[derive(Debug, Clone)]
pub struct Queue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    /// The queue at `url`, read with a client from `factory`.
    pub fn new(factory: &ClientFactory, url: &QueueUrl) -> Queue {
        Queue {
            sqs: factory.sqs(url.region.clone(), WAIT),
            url: url.url.clone(),
        }
    }

    /// Waits up to [`WAIT`] for up to [`BATCH`] messages.
    pub async fn receive(&self) -> Result<Vec<Message>, Error> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(BATCH)
            .wait_time_seconds(WAIT.as_secs() as i32)
            .visibility_timeout(VISIBILITY.as_secs() as i32)
            .send()
            .await
            .map_err(|e| sdk_error("sqs", "ReceiveMessage", e))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                Some(Message {
                    receipt: m.receipt_handle()?.to_owned(),
                    id: m.message_id().unwrap_or_default().to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                })
            })
            .collect())
    }

    /// Deletes the messages of these receipt handles, ten to a call; returns how many could
    /// not be deleted (they come back after [`VISIBILITY`] and are acted on again, which is
    /// harmless), and the first error.
    pub async fn delete(&self, receipts: Vec<String>) -> (usize, Option<Error>) {
        let mut failed = 0;
        let mut first = None;
        for chunk in receipts.chunks(BATCH as usize) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .ok()
                })
                .collect();
            match self
                .sqs
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => failed += out.failed().len(),
                Err(e) => {
                    failed += chunk.len();
                    first.get_or_insert(sdk_error("sqs", "DeleteMessageBatch", e));
                }
            }
        }
        (failed, first)
    }
}

/// The pause after `failures` failed receives in a row (1 or more): 1 s, doubling, at most 60 s.
pub fn backoff(failures: u32) -> Duration {
    BACKOFF_FIRST
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls() {
        let ok = [
            (
                "https://sqs.eu-west-1.amazonaws.com/123456789012/root-events",
                Some("eu-west-1"),
            ),
            (
                "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q_1.fifo",
                Some("cn-north-1"),
            ),
            (
                "https://us-east-1.queue.amazonaws.com/123456789012/q",
                Some("us-east-1"),
            ),
            ("http://127.0.0.1:5000/123456789012/q", None),
        ];
        for (url, region) in ok {
            let got: QueueUrl = url.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(got.region.as_deref(), region, "{url}");
            assert_eq!(got.url, url);
        }
        for bad in [
            "",
            "root-events",
            "ftp://sqs.us-east-1.amazonaws.com/123456789012/q",
            "https://sqs.us-east-1.amazonaws.com/",
            "https://sqs.us-east-1.amazonaws.com/123456789012",
            "https://sqs.us-east-1.amazonaws.com/1234/q",
            "https://sqs.us-east-1.amazonaws.com/123456789012/q/extra",
            "https://sqs.us-east-1.amazonaws.com/123456789012/bad name",
            &format!(
                "https://sqs.us-east-1.amazonaws.com/123456789012/{}",
                "q".repeat(81)
            ),
        ] {
            let err = bad.parse::<QueueUrl>().unwrap_err();
            assert!(
                !err.contains('\n') && err.contains("expected"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let secs: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }
}
