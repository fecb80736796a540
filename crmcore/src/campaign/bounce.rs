//! Reading what mail servers send back: RFC 3464 delivery status notifications (bounces) and
//! RFC 5965 ARF feedback reports (complaints).
//!
//! Both are `multipart/report` messages. A DSN (`report-type=delivery-status`) has a
//! `message/delivery-status` part: per-message fields, then one block per recipient
//! (`Final-Recipient`, `Action`, `Status: x.y.z`, `Diagnostic-Code`). Each recipient whose action
//! is `failed` or `delayed` becomes a [`BounceReport`]: a failed 5.x.x is [`BounceKind::Hard`]
//! (stop mailing the address), anything else (4.x.x, or a delay) is [`BounceKind::Soft`]. An ARF
//! report (`report-type=feedback-report`) becomes a [`ComplaintReport`]. The original
//! `Message-ID` comes from the returned message or headers, so the report can be matched to the
//! recipient it was sent to.
//!
//! MIME is read by `mail-parser` (no I/O); the status fields are parsed here. Every input,
//! however malformed, yields a value or a typed [`ReportError`], never a panic.

use mail_parser::{Message, MessageParser, MimeHeaders};
use serde::{Deserialize, Serialize};

use crate::error::CrmError;

/// Whether an address should be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BounceKind {
    /// Permanent failure (5.x.x): the address should not be mailed again.
    Hard,
    /// Temporary failure or delay (4.x.x): later sends may succeed.
    Soft,
}

/// What the reporting server did with the message for this recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryAction {
    /// It gave up.
    Failed,
    /// It is still trying.
    Delayed,
}

/// One recipient that a DSN reports as failed or delayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BounceReport {
    /// The recipient address (`Final-Recipient`, else `Original-Recipient`).
    pub recipient: String,
    /// Hard or soft.
    pub kind: BounceKind,
    /// Failed or delayed.
    pub action: DeliveryAction,
    /// The enhanced status code, `x.y.z` (RFC 3463).
    pub status: String,
    /// The remote server's words, when given (`Diagnostic-Code`, type prefix removed).
    pub diagnostic: Option<String>,
    /// The bounced message's `Message-ID`, without angle brackets, when the report returns it.
    pub original_message_id: Option<String>,
}

/// A recipient's complaint (ARF feedback report), e.g. a "this is spam" click.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintReport {
    /// `Feedback-Type`, lowercased: `abuse`, `fraud`, `virus`, `not-spam`, `other`, …
    pub feedback_type: String,
    /// Who complained: `Original-Rcpt-To`, else the returned message's `To`.
    pub recipient: Option<String>,
    /// The reported message's `Message-ID`, without angle brackets.
    pub original_message_id: Option<String>,
    /// `User-Agent` of the report's generator.
    pub user_agent: Option<String>,
}

impl ComplaintReport {
    /// Whether this is a spam (abuse) complaint.
    pub fn is_abuse(&self) -> bool {
        self.feedback_type == "abuse"
    }
}

/// What a report says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Report {
    /// A DSN: the failed or delayed recipients (empty when it only reports deliveries).
    Delivery {
        /// One entry per failed or delayed recipient.
        bounces: Vec<BounceReport>,
    },
    /// An ARF feedback report.
    Complaint(ComplaintReport),
}

/// Why a message could not be read as a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The bytes are not an e-mail message.
    #[error("not an e-mail message")]
    NotAMessage,
    /// The message is not `multipart/report` (e.g. a plain-text bounce or an ordinary reply).
    #[error("not a multipart/report message")]
    NotAReport,
    /// A `multipart/report` of a type other than delivery-status or feedback-report.
    #[error("unsupported report type `{0}`")]
    UnsupportedReportType(String),
    /// The report lacks its machine-readable part.
    #[error("missing {0} part")]
    MissingPart(&'static str),
    /// The machine-readable part is there but wrong.
    #[error("malformed report: {0}")]
    Malformed(String),
}

impl ReportError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            ReportError::NotAMessage => "not_a_message",
            ReportError::NotAReport => "not_a_report",
            ReportError::UnsupportedReportType(_) => "unsupported_report_type",
            ReportError::MissingPart(_) => "missing_part",
            ReportError::Malformed(_) => "malformed",
        }
    }
}

impl From<ReportError> for CrmError {
    fn from(e: ReportError) -> Self {
        CrmError::invalid("report", e.code(), e.to_string())
    }
}

/// Reads a DSN or an ARF report from a raw message.
pub fn parse_report(raw: &[u8]) -> Result<Report, ReportError> {
    let message = MessageParser::default().parse(raw).ok_or(ReportError::NotAMessage)?;
    let content_type = message.content_type().ok_or(ReportError::NotAReport)?;
    let is_report = content_type.ctype().eq_ignore_ascii_case("multipart")
        && content_type.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"));
    if !is_report {
        return Err(ReportError::NotAReport);
    }
    let report_type = content_type.attribute("report-type").unwrap_or_default().to_ascii_lowercase();
    match report_type.as_str() {
        "delivery-status" | "global-delivery-status" => parse_dsn(&message),
        "feedback-report" => parse_arf(&message),
        other => Err(ReportError::UnsupportedReportType(other.to_owned())),
    }
}

/// Reads the bounces of a DSN; an ARF report or another message is an error.
pub fn parse_bounces(raw: &[u8]) -> Result<Vec<BounceReport>, ReportError> {
    match parse_report(raw)? {
        Report::Delivery { bounces } => Ok(bounces),
        Report::Complaint(_) => Err(ReportError::UnsupportedReportType("feedback-report".into())),
    }
}

/// The contents of the first part whose type is `message/<one of subtypes>`.
fn part_of<'a>(message: &'a Message<'_>, subtypes: &[&str]) -> Option<&'a [u8]> {
    message.parts.iter().skip(1).find_map(|part| {
        let ct = part.content_type()?;
        let matches = ct.ctype().eq_ignore_ascii_case("message")
            && ct.subtype().is_some_and(|s| subtypes.iter().any(|t| s.eq_ignore_ascii_case(t)));
        matches.then(|| part.contents())
    })
}

/// Headers of the returned original: its `Message-ID` and `To`.
struct Original {
    message_id: Option<String>,
    to: Option<String>,
}

fn original(message: &Message<'_>) -> Original {
    for part in message.parts.iter().skip(1) {
        let Some(ct) = part.content_type() else { continue };
        let sub = ct.subtype().unwrap_or_default().to_ascii_lowercase();
        let (ctype, sub) = (ct.ctype().to_ascii_lowercase(), sub.as_str());
        let headers = match (ctype.as_str(), sub) {
            ("message", "rfc822" | "global") | ("text", "rfc822-headers") | ("message", "global-headers") => {
                part.contents()
            }
            _ => continue,
        };
        let text = String::from_utf8_lossy(headers);
        let fields = field_groups(&text).into_iter().next().unwrap_or_default();
        return Original {
            message_id: field(&fields, "message-id").map(|id| strip_angles(id).to_owned()).filter(|s| !s.is_empty()),
            to: field(&fields, "to").map(address_of).filter(|s| !s.is_empty()),
        };
    }
    Original { message_id: None, to: None }
}

/// Fields `(lowercased name, unfolded value)` in blank-line-separated groups. Lines that are not
/// fields are skipped.
fn field_groups(text: &str) -> Vec<Vec<(String, String)>> {
    let mut groups = Vec::new();
    let mut group: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !group.is_empty() {
                groups.push(std::mem::take(&mut group));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = group.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if !name.is_empty() && !name.contains(' ') {
                group.push((name.to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn strip_angles(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('<').and_then(|s| s.strip_suffix('>')).unwrap_or(s).trim()
}

/// `rfc822; Ada <ada@example.com>` → `ada@example.com` (type prefix, display name and brackets gone).
fn address_of(value: &str) -> String {
    let value = match value.split_once(';') {
        Some((kind, rest)) if !kind.contains('@') && !kind.contains('<') => rest,
        _ => value,
    };
    let value = value.trim();
    let inner = match (value.rfind('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => &value[start + 1..end],
        _ => value,
    };
    inner.trim().trim_matches('"').to_owned()
}

/// The `x.y.z` enhanced status at the start of `s`, if it is one (class 2, 4 or 5).
fn enhanced_status(s: &str) -> Option<String> {
    let token = s.trim().split(|c: char| c.is_whitespace() || c == '(').next()?;
    let mut parts = token.split('.');
    let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    let numeric = |p: &str, max: usize| !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit());
    let valid = parts.next().is_none() && matches!(class, "2" | "4" | "5") && numeric(subject, 3) && numeric(detail, 3);
    valid.then(|| token.to_owned())
}

/// An enhanced status found in a diagnostic such as `smtp; 550-5.1.1 The account…`, or one
/// made from its basic reply code (`550` → `5.0.0`).
fn status_from_diagnostic(diagnostic: &str) -> Option<String> {
    let words: Vec<&str> = diagnostic.split(|c: char| c.is_whitespace() || c == '-' || c == ';').collect();
    if let Some(status) = words.iter().find_map(|w| enhanced_status(w)) {
        return Some(status);
    }
    words.iter().find_map(|w| match w.as_bytes() {
        [c @ (b'4' | b'5'), b'0'..=b'9', b'0'..=b'9'] => Some(format!("{}.0.0", *c as char)),
        _ => None,
    })
}

fn parse_dsn(message: &Message<'_>) -> Result<Report, ReportError> {
    let status_part = part_of(message, &["delivery-status", "global-delivery-status"])
        .ok_or(ReportError::MissingPart("message/delivery-status"))?;
    let text = String::from_utf8_lossy(status_part);
    let original = original(message);
    let mut bounces = Vec::new();
    let mut recipients = 0;
    for fields in field_groups(&text) {
        let Some(recipient) = field(&fields, "final-recipient").or_else(|| field(&fields, "original-recipient")) else {
            continue; // the per-message block
        };
        recipients += 1;
        let recipient = address_of(recipient);
        if recipient.is_empty() {
            return Err(ReportError::Malformed("a recipient block has an empty address".into()));
        }
        let action_raw = field(&fields, "action").unwrap_or_default().to_ascii_lowercase();
        let action = match action_raw.split_whitespace().next().unwrap_or_default() {
            "failed" => DeliveryAction::Failed,
            "delayed" => DeliveryAction::Delayed,
            "delivered" | "relayed" | "expanded" => continue,
            other => return Err(ReportError::Malformed(format!("unknown action `{other}` for {recipient}"))),
        };
        let diagnostic = field(&fields, "diagnostic-code").map(|d| {
            let text = match d.split_once(';') {
                Some((kind, rest)) if !kind.trim().contains(' ') => rest,
                _ => d,
            };
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        });
        let status = field(&fields, "status")
            .and_then(enhanced_status)
            .or_else(|| diagnostic.as_deref().and_then(status_from_diagnostic))
            .ok_or_else(|| ReportError::Malformed(format!("no valid status for {recipient}")))?;
        let kind = if action == DeliveryAction::Failed && status.starts_with('5') {
            BounceKind::Hard
        } else {
            BounceKind::Soft
        };
        bounces.push(BounceReport {
            recipient,
            kind,
            action,
            status,
            diagnostic: diagnostic.filter(|d| !d.is_empty()),
            original_message_id: original.message_id.clone(),
        });
    }
    if recipients == 0 {
        return Err(ReportError::Malformed("the delivery status names no recipient".into()));
    }
    Ok(Report::Delivery { bounces })
}

fn parse_arf(message: &Message<'_>) -> Result<Report, ReportError> {
    let feedback = part_of(message, &["feedback-report"]).ok_or(ReportError::MissingPart("message/feedback-report"))?;
    let text = String::from_utf8_lossy(feedback);
    let fields: Vec<(String, String)> = field_groups(&text).into_iter().flatten().collect();
    let feedback_type = field(&fields, "feedback-type")
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ReportError::Malformed("no Feedback-Type".into()))?;
    let original = original(message);
    let recipient = field(&fields, "original-rcpt-to").map(address_of).filter(|r| !r.is_empty()).or(original.to);
    Ok(Report::Complaint(ComplaintReport {
        feedback_type,
        recipient,
        original_message_id: original.message_id,
        user_agent: field(&fields, "user-agent").map(str::to_owned),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Postfix's DSN for an unknown user (text/rfc822-headers returned).
    const POSTFIX: &str = "Return-Path: <>\r
Received: by mail.acme.test (Postfix) id 3F2A41C0; Tue, 14 Apr 2026 10:00:01 +0000 (UTC)\r
Date: Tue, 14 Apr 2026 10:00:01 +0000 (UTC)\r
From: MAILER-DAEMON@mail.acme.test (Mail Delivery System)\r
Subject: Undelivered Mail Returned to Sender\r
To: bounces+c1.r42@acme.test\r
Auto-Submitted: auto-replied\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status;\r
\tboundary=\"3F2A41C0.1776160801/mail.acme.test\"\r
Message-Id: <20260414100001.3F2A41C0@mail.acme.test>\r
\r
This is a MIME-encapsulated message.\r
\r
--3F2A41C0.1776160801/mail.acme.test\r
Content-Description: Notification\r
Content-Type: text/plain; charset=us-ascii\r
\r
This is the mail system at host mail.acme.test.\r
\r
I'm sorry to have to inform you that your message could not\r
be delivered to one or more recipients.\r
\r
<nobody@example.com>: host mx.example.com[203.0.113.5] said: 550 5.1.1\r
    <nobody@example.com>: Recipient address rejected: User unknown in virtual\r
    mailbox table (in reply to RCPT TO command)\r
\r
--3F2A41C0.1776160801/mail.acme.test\r
Content-Description: Delivery report\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mail.acme.test\r
X-Postfix-Queue-ID: 3F2A41C0\r
X-Postfix-Sender: rfc822; news@acme.test\r
Arrival-Date: Tue, 14 Apr 2026 10:00:00 +0000 (UTC)\r
\r
Final-Recipient: rfc822; nobody@example.com\r
Original-Recipient: rfc822;nobody@example.com\r
Action: failed\r
Status: 5.1.1\r
Remote-MTA: dns; mx.example.com\r
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.com>: Recipient address\r
    rejected: User unknown in virtual mailbox table\r
\r
--3F2A41C0.1776160801/mail.acme.test\r
Content-Description: Undelivered Message Headers\r
Content-Type: text/rfc822-headers\r
\r
Return-Path: <news@acme.test>\r
From: Acme News <news@acme.test>\r
To: nobody@example.com\r
Subject: Your offer\r
Message-ID: <c1.r42@acme.test>\r
Date: Tue, 14 Apr 2026 09:59:59 +0000\r
\r
--3F2A41C0.1776160801/mail.acme.test--\r
";

    /// Exim's delay warning (Action: delayed, no returned message id in the status part).
    const EXIM_DELAYED: &str = "Return-path: <>
Envelope-to: bounces@acme.test
From: Mail Delivery System <Mailer-Daemon@relay.example.org>
To: bounces@acme.test
Subject: Warning: message 1wXyZ-000abc-4Q delayed 24 hours
Content-Type: multipart/report; report-type=delivery-status; boundary=1776160801-eximdsn-1804289383
MIME-Version: 1.0
Message-Id: <E1wXyZ-000def-7R@relay.example.org>
Date: Tue, 14 Apr 2026 10:00:01 +0000

--1776160801-eximdsn-1804289383
Content-type: text/plain; charset=us-ascii

This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on relay.example.org.

  slow@example.org
    host mx.example.org [198.51.100.7]
    Delay reason: SMTP error from remote mail server after RCPT TO:<slow@example.org>:
    451 4.7.1 Greylisted, please try again later

No action is required on your part. Delivery attempts will continue for
some time, and this warning may be repeated at intervals if the message
remains undelivered. Eventually the mail delivery software will give up,
and when that happens, the message will be returned to you.

--1776160801-eximdsn-1804289383
Content-type: message/delivery-status

Reporting-MTA: dns; relay.example.org

Action: delayed
Final-Recipient: rfc822;slow@example.org
Status: 4.0.0
Remote-MTA: dns; mx.example.org
X-Remote-MTA-smtp-greeting: X-str; 220 mx.example.org ESMTP
Diagnostic-Code: smtp; 451 4.7.1 Greylisted, please try again later
Will-Retry-Until: Thu, 16 Apr 2026 10:00:00 +0000

--1776160801-eximdsn-1804289383
Content-type: text/rfc822-headers

Return-path: <bounces@acme.test>
Received: from [192.0.2.10] by relay.example.org with esmtp (Exim 4.97)
	id 1wXyZ-000abc-4Q; Mon, 13 Apr 2026 10:00:00 +0000
Message-ID: <c1.r7@acme.test>
From: Acme News <news@acme.test>
To: slow@example.org
Subject: Your offer

--1776160801-eximdsn-1804289383--
";

    /// Gmail-style: a multipart/alternative notification, two recipients (one mailbox full after
    /// retries, one disabled account), the whole original returned as message/rfc822, base64
    /// delivery status.
    const GMAIL: &str = "Delivered-To: bounces@acme.test
Return-Path: <>
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: bounces@acme.test
Auto-Submitted: auto-replied
Subject: Delivery Status Notification (Failure)
References: <c1.r99@acme.test>
In-Reply-To: <c1.r99@acme.test>
X-Failed-Recipients: full@gmail.com, gone@gmail.com
Message-ID: <6620f1a1.5d0a0220.abcd.0000.GMR@mx.google.com>
Date: Tue, 14 Apr 2026 03:00:01 -0700 (PDT)
MIME-Version: 1.0
Content-Type: multipart/report; boundary=\"000000000000abc123\"; report-type=delivery-status

--000000000000abc123
Content-Type: multipart/related; boundary=\"000000000000abc124\"

--000000000000abc124
Content-Type: multipart/alternative; boundary=\"000000000000abc125\"

--000000000000abc125
Content-Type: text/plain; charset=\"UTF-8\"

** Address not found **

Your message wasn't delivered to gone@gmail.com because the address couldn't be found.

--000000000000abc125
Content-Type: text/html; charset=\"UTF-8\"

<html><body><h2>Address not found</h2></body></html>

--000000000000abc125--
--000000000000abc124--
--000000000000abc123
Content-Type: message/delivery-status
Content-Transfer-Encoding: base64

UmVwb3J0aW5nLU1UQTogZG5zOyBnb29nbGVtYWlsLmNvbQ0KUmVjZWl2ZWQtRnJvbS1NVEE6IGRu
czsgbWFpbC5hY21lLnRlc3QNCkFycml2YWwtRGF0ZTogVHVlLCAxNCBBcHIgMjAyNiAwMzowMDow
MCAtMDcwMCAoUERUKQ0KDQpGaW5hbC1SZWNpcGllbnQ6IHJmYzgyMjsgZnVsbEBnbWFpbC5jb20N
CkFjdGlvbjogZmFpbGVkDQpTdGF0dXM6IDQuMi4yDQpSZW1vdGUtTVRBOiBkbnM7IGdtYWlsLXNt
dHAtaW4ubC5nb29nbGUuY29tLiAyMDAxOjQ4NjA6NDg2NDoyMDo6MWENCkRpYWdub3N0aWMtQ29k
ZTogc210cDsgNDUyLTQuMi4yIFRoZSByZWNpcGllbnQncyBpbmJveCBpcyBvdXQgb2Ygc3RvcmFn
ZSBzcGFjZS4NCiA0NTIgNC4yLjIgUGxlYXNlIGRpcmVjdCB0aGUgcmVjaXBpZW50IHRvDQpMYXN0
LUF0dGVtcHQtRGF0ZTogVHVlLCAxNCBBcHIgMjAyNiAwMzowMDowMSAtMDcwMCAoUERUKQ0KDQpG
aW5hbC1SZWNpcGllbnQ6IHJmYzgyMjsgZ29uZUBnbWFpbC5jb20NCkFjdGlvbjogZmFpbGVkDQpT
dGF0dXM6IDUuMi4xDQpEaWFnbm9zdGljLUNvZGU6IHNtdHA7IDU1MC01LjIuMSBUaGUgZW1haWwg
YWNjb3VudCB0aGF0IHlvdSB0cmllZCB0byByZWFjaCBpcw0KIGRpc2FibGVkLg0KDQpGaW5hbC1S
ZWNpcGllbnQ6IHJmYzgyMjsgb2tAZ21haWwuY29tDQpBY3Rpb246IGRlbGl2ZXJlZA0KU3RhdHVz
OiAyLjAuMA0K

--000000000000abc123
Content-Type: message/rfc822

From: Acme News <news@acme.test>
To: full@gmail.com, gone@gmail.com
Subject: Your offer
Message-ID: <c1.r99@acme.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello!

--000000000000abc123--
";

    /// An ARF abuse report as mailbox providers send them.
    const ARF: &str = "From: <abuse@mail.example.net>
Date: Tue, 14 Apr 2026 12:00:00 +0000
Subject: FW: Your offer
To: <fbl@acme.test>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
     boundary=\"part1_13d.2e68ed54_boundary\"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset=\"US-ASCII\"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.10 on Tue, 14 Apr 2026 11:59:00 +0000.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <bounces@acme.test>
Original-Rcpt-To: <ada@example.net>
Arrival-Date: Tue, 14 Apr 2026 11:59:00 +0000
Reported-Domain: acme.test
Source-IP: 192.0.2.10

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

From: Acme News <news@acme.test>
To: Ada <ada@example.net>
Subject: Your offer
Message-ID: <c1.r5@acme.test>
Date: Tue, 14 Apr 2026 11:58:00 +0000

Hello Ada!

--part1_13d.2e68ed54_boundary--
";

    fn bounces(raw: &str) -> Vec<BounceReport> {
        parse_bounces(raw.as_bytes()).unwrap()
    }

    #[test]
    fn postfix_unknown_user_is_a_hard_bounce() {
        assert_eq!(
            bounces(POSTFIX),
            [BounceReport {
                recipient: "nobody@example.com".into(),
                kind: BounceKind::Hard,
                action: DeliveryAction::Failed,
                status: "5.1.1".into(),
                diagnostic: Some(
                    "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table"
                        .into()
                ),
                original_message_id: Some("c1.r42@acme.test".into()),
            }]
        );
    }

    #[test]
    fn exim_delay_is_a_soft_bounce() {
        let b = bounces(EXIM_DELAYED);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].recipient, "slow@example.org");
        assert_eq!(
            (b[0].kind, b[0].action, b[0].status.as_str()),
            (BounceKind::Soft, DeliveryAction::Delayed, "4.0.0")
        );
        assert_eq!(b[0].diagnostic.as_deref(), Some("451 4.7.1 Greylisted, please try again later"));
        assert_eq!(b[0].original_message_id.as_deref(), Some("c1.r7@acme.test"));
    }

    #[test]
    fn gmail_report_with_several_recipients() {
        let b = bounces(GMAIL);
        assert_eq!(b.len(), 2, "the delivered recipient is not a bounce: {b:?}");
        assert_eq!(
            (b[0].recipient.as_str(), b[0].kind, b[0].status.as_str()),
            ("full@gmail.com", BounceKind::Soft, "4.2.2")
        );
        assert_eq!(b[0].action, DeliveryAction::Failed);
        assert!(b[0].diagnostic.as_deref().unwrap().starts_with("452-4.2.2 The recipient's inbox is out of storage"));
        assert_eq!(
            (b[1].recipient.as_str(), b[1].kind, b[1].status.as_str()),
            ("gone@gmail.com", BounceKind::Hard, "5.2.1")
        );
        assert_eq!(
            b[1].diagnostic.as_deref(),
            Some("550-5.2.1 The email account that you tried to reach is disabled.")
        );
        assert!(b.iter().all(|b| b.original_message_id.as_deref() == Some("c1.r99@acme.test")));
    }

    #[test]
    fn arf_abuse_report_is_a_complaint() {
        let Report::Complaint(c) = parse_report(ARF.as_bytes()).unwrap() else { panic!("not a complaint") };
        assert!(c.is_abuse());
        assert_eq!(c.recipient.as_deref(), Some("ada@example.net"));
        assert_eq!(c.original_message_id.as_deref(), Some("c1.r5@acme.test"));
        assert_eq!(c.user_agent.as_deref(), Some("SomeGenerator/1.0"));
        // Without Original-Rcpt-To, the returned message's To names the recipient.
        let without = ARF.replace("Original-Rcpt-To: <ada@example.net>\n", "");
        let Report::Complaint(c) = parse_report(without.as_bytes()).unwrap() else { panic!("not a complaint") };
        assert_eq!(c.recipient.as_deref(), Some("ada@example.net"));
        assert!(parse_bounces(ARF.as_bytes()).is_err());
    }

    #[test]
    fn status_falls_back_to_the_diagnostic() {
        let raw = POSTFIX.replace("Status: 5.1.1\r\n", "Status: unknown\r\n");
        assert_eq!(bounces(&raw)[0].status, "5.1.1");
        let raw = POSTFIX.replace("Status: 5.1.1\r\n", "").replace("550 5.1.1 <nobody", "554 <nobody");
        assert_eq!(bounces(&raw)[0].status, "5.0.0");
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        assert_eq!(parse_report(b""), Err(ReportError::NotAMessage));
        let plain = "From: a@b.test\r\nTo: c@d.test\r\nSubject: hi\r\n\r\nhello\r\n";
        assert_eq!(parse_report(plain.as_bytes()), Err(ReportError::NotAReport));
        let other = POSTFIX.replace("report-type=delivery-status", "report-type=disposition-notification");
        assert_eq!(
            parse_report(other.as_bytes()),
            Err(ReportError::UnsupportedReportType("disposition-notification".into()))
        );
        let no_status = POSTFIX.replace("Content-Type: message/delivery-status", "Content-Type: text/plain");
        assert_eq!(parse_report(no_status.as_bytes()), Err(ReportError::MissingPart("message/delivery-status")));
        let bad_action = POSTFIX.replace("Action: failed", "Action: exploded");
        assert!(matches!(parse_report(bad_action.as_bytes()), Err(ReportError::Malformed(_))));
        let no_status_at_all = POSTFIX.replace("Status: 5.1.1\r\n", "").replace("Diagnostic-Code", "X-Diag");
        assert!(matches!(parse_report(no_status_at_all.as_bytes()), Err(ReportError::Malformed(_))));
        let no_recipient = POSTFIX.replace("Final-Recipient", "X-Final").replace("Original-Recipient", "X-Orig");
        assert!(matches!(parse_report(no_recipient.as_bytes()), Err(ReportError::Malformed(_))));
        let no_type = ARF.replace("Feedback-Type: abuse\n", "");
        assert!(matches!(parse_report(no_type.as_bytes()), Err(ReportError::Malformed(_))));
        let err: CrmError = ReportError::NotAReport.into();
        assert!(matches!(err, CrmError::Validation(ref e) if e[0].code == "not_a_report"));
    }

    #[test]
    fn status_codes_are_validated() {
        assert_eq!(enhanced_status("5.1.1 (bad mailbox)").as_deref(), Some("5.1.1"));
        assert_eq!(enhanced_status("4.7.100").as_deref(), Some("4.7.100"));
        for bad in ["", "5.1", "6.1.1", "5.1.1.1", "5..1", "a.b.c", "5.1234.1"] {
            assert_eq!(enhanced_status(bad), None, "{bad}");
        }
        assert_eq!(address_of("rfc822; Ada <ada@example.com>"), "ada@example.com");
        assert_eq!(address_of("<bob@example.com>"), "bob@example.com");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let _ = parse_report(&bytes);
        }

        #[test]
        fn damaged_reports_never_panic(cut in 0usize..3000, at in 0usize..3000, byte in proptest::num::u8::ANY) {
            for sample in [POSTFIX, EXIM_DELAYED, GMAIL, ARF] {
                let mut raw = sample.as_bytes().to_vec();
                if at < raw.len() {
                    raw[at] = byte;
                }
                raw.truncate(cut.min(raw.len()));
                let _ = parse_report(&raw);
            }
        }
    }
}
