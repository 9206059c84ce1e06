//! The fake's API 3.0 side on `/`: `PushUrlsCache`, `DescribePushQuota` and `DescribePushTasks`, with a
//! TC3-HMAC-SHA256 verifier written from TENCENT.md §3 (independently of `crate::push`).
//!
//! Takes a parsed HTTP request (POST JSON or GET form-urlencoded) and returns `{"Response":{…,"RequestId":…}}`
//! with HTTP 200, as Tencent does. It must never accept URLs from a request that fails authentication, and never
//! accept part of a batch.
//!
//! Choices (where the spec leaves room):
//! * a missing or malformed `Authorization` → `AuthFailure.InvalidAuthorization`; a credential scope whose date is
//!   not the UTC date of `X-TC-Timestamp`, or whose service is not `cdn` → `AuthFailure.SignatureFailure`;
//! * revoked credentials → `AuthFailure.SecretIdNotFound` (what a deleted or disabled key gets);
//! * a host configured as not accelerated in the requested area → `InvalidParameter.CdnHostInvalidParam` with
//!   "域名 HOST 未部署在 AREA" in the message (the wording of the real v2 answer for the same condition);
//! * `StartTime` / `EndTime` and the `CreateTime` / `UpdateTime` printed are Beijing time (UTC+8), as the console;
//! * `UrlEncode: true` percent-encodes every byte outside ASCII's printable set **and `%`**, so an already encoded
//!   URL gets encoded twice, as it would be by the real service.

use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

use super::http::{Request, Response};
use super::{FakeConfig, State, Task};

/// The push action.
pub const PUSH_ACTION: &str = "PushUrlsCache";
/// The only version served.
pub const VERSION: &str = "2018-06-06";
/// The service name in the credential scope.
pub const SERVICE: &str = "cdn";

/// Hex SHA-256.
#[must_use]
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac256(key: &[u8], msg: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(msg.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The `CanonicalHeaders` block: `name:value\n` per header, names and values lower-cased and trimmed, sorted.
#[must_use]
pub fn canonical_headers(headers: &[(&str, &str)]) -> String {
    let mut hs: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase()))
        .collect();
    hs.sort();
    hs.iter().map(|(n, v)| format!("{n}:{v}\n")).collect()
}

/// `CanonicalRequest` (§3.6): `METHOD\n/\nQUERY\nHEADERS\nSIGNED\nhex(sha256(body))`.
#[must_use]
pub fn canonical_request(
    method: &str,
    query: &str,
    headers: &str,
    signed_headers: &str,
    body: &[u8],
) -> String {
    format!(
        "{}\n/\n{query}\n{headers}\n{signed_headers}\n{}",
        method.to_ascii_uppercase(),
        sha256_hex(body)
    )
}

/// `StringToSign` (§3.6).
#[must_use]
pub fn string_to_sign(
    timestamp: i64,
    date: &str,
    service: &str,
    canonical_request: &str,
) -> String {
    format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Hex signature: the `kDate → kService → kSigning` chain of §3.6 over `string_to_sign`.
#[must_use]
pub fn signature(secret_key: &str, date: &str, service: &str, string_to_sign: &str) -> String {
    let k_date = hmac256(format!("TC3{secret_key}").as_bytes(), date);
    let k_service = hmac256(&k_date, service);
    let k_signing = hmac256(&k_service, "tc3_request");
    hex::encode(hmac256(&k_signing, string_to_sign))
}

/// The UTC date (`YYYY-MM-DD`) of a Unix timestamp.
#[must_use]
pub fn utc_date(timestamp: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(timestamp).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// A full `Authorization` header for service `cdn`, signed headers `content-type;host` (a helper for tests and
/// scripts driving the fake; it is the verifier's own algorithm).
#[must_use]
#[expect(
    clippy::too_many_arguments,
    reason = "each is one input of the TC3 algorithm"
)]
pub fn authorization(
    secret_id: &str,
    secret_key: &str,
    timestamp: i64,
    method: &str,
    query: &str,
    content_type: &str,
    host: &str,
    body: &[u8],
) -> String {
    let date = utc_date(timestamp);
    let headers = canonical_headers(&[("content-type", content_type), ("host", host)]);
    let creq = canonical_request(method, query, &headers, "content-type;host", body);
    let sig = signature(
        secret_key,
        &date,
        SERVICE,
        &string_to_sign(timestamp, &date, SERVICE, &creq),
    );
    format!(
        "TC3-HMAC-SHA256 Credential={secret_id}/{date}/{SERVICE}/tc3_request, SignedHeaders=content-type;host, Signature={sig}"
    )
}

fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// An error answer `{"Response":{"Error":{"Code","Message"},"RequestId"}}`.
pub(crate) fn error(code: &str, message: &str) -> Response {
    Response::json(json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id()}}).to_string())
}

fn ok(mut fields: Map<String, Value>) -> Response {
    fields.insert("RequestId".into(), Value::String(request_id()));
    Response::json(json!({ "Response": fields }).to_string())
}

/// A success body cut short by the `truncated` / `reset` faults.
pub(crate) fn canned_success() -> String {
    json!({"Response": {"TaskId": "15475444535871929928456", "RequestId": request_id()}})
        .to_string()
}

/// The `X-TC-Action` header.
pub(crate) fn action_of(req: &Request) -> Option<String> {
    req.header("x-tc-action").map(str::to_string)
}

/// The `Urls` of a request, best effort (for the record of faulted calls).
pub(crate) fn urls_of(req: &Request) -> Vec<String> {
    params_of(req)
        .ok()
        .map(|p| string_list(&p, "Urls"))
        .unwrap_or_default()
}

/// The request parameters as JSON: the POST body, or the GET query turned into nested values (`Urls.0=…` → an
/// array, `Headers.0.Name=…` → an array of objects).
fn params_of(req: &Request) -> Result<Map<String, Value>, String> {
    match req.method.as_str() {
        "POST" => {
            let ct = req
                .header("content-type")
                .unwrap_or_default()
                .to_ascii_lowercase();
            if !ct.starts_with("application/json") {
                return Err(format!(
                    "content-type {ct:?} is not supported for POST; send application/json"
                ));
            }
            if req.body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Map::new());
            }
            match serde_json::from_slice::<Value>(&req.body) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(_) => Err("the request body must be a JSON object".into()),
                Err(e) => Err(format!(
                    "the request body is not valid JSON at line {} column {}: {e}",
                    e.line(),
                    e.column()
                )),
            }
        }
        "GET" => {
            let mut root = Value::Object(Map::new());
            for (k, v) in url::form_urlencoded::parse(req.query.as_bytes()) {
                insert_path(
                    &mut root,
                    &k.split('.').collect::<Vec<_>>(),
                    Value::String(v.into_owned()),
                )
                .map_err(|()| format!("parameter {k} conflicts with another parameter"))?;
            }
            match root {
                Value::Object(m) => Ok(m),
                _ => Ok(Map::new()),
            }
        }
        other => Err(format!("method {other} is not supported; use POST or GET")),
    }
}

fn insert_path(node: &mut Value, path: &[&str], leaf: Value) -> Result<(), ()> {
    let Some((first, rest)) = path.split_first() else {
        *node = leaf;
        return Ok(());
    };
    if let Ok(i) = first.parse::<usize>() {
        if node.is_null() {
            *node = Value::Array(Vec::new());
        }
        let Value::Array(items) = node else {
            return Err(());
        };
        if i > 10_000 {
            return Err(());
        }
        if items.len() <= i {
            items.resize(i + 1, Value::Null);
        }
        insert_path(&mut items[i], rest, leaf)
    } else {
        if node.is_null() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else {
            return Err(());
        };
        insert_path(
            map.entry((*first).to_string()).or_insert(Value::Null),
            rest,
            leaf,
        )
    }
}

fn string_list(p: &Map<String, Value>, key: &str) -> Vec<String> {
    match p.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// A string parameter; `Err` when present with another type.
fn opt_str<'a>(p: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

/// An integer parameter (a JSON number, or a string on GET).
fn opt_u64(p: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{key} must be a non-negative integer")),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("{key} must be a non-negative integer")),
        Some(_) => Err(format!("{key} must be a non-negative integer")),
    }
}

/// A boolean parameter (JSON bool, or `true`/`false` on GET).
fn opt_bool(p: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(_) => Err(format!("{key} must be a boolean")),
    }
}

struct Authorization<'a> {
    secret_id: &'a str,
    date: &'a str,
    service: &'a str,
    terminator: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(h: &str) -> Option<Authorization<'_>> {
    let rest = h.strip_prefix("TC3-HMAC-SHA256 ")?;
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => cred = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => sig = Some(v),
            _ => return None,
        }
    }
    let mut c = cred?.split('/');
    let auth = Authorization {
        secret_id: c.next()?,
        date: c.next()?,
        service: c.next()?,
        terminator: c.next()?,
        signed_headers: signed?,
        signature: sig?,
    };
    c.next().is_none().then_some(auth)
}

/// Checks the TC3 signature and the common headers; `Err` is the answer to send.
fn authenticate(
    cfg: &FakeConfig,
    st: &State,
    req: &Request,
    now: OffsetDateTime,
) -> Result<(), (String, Response)> {
    let fail = |code: &str, msg: String| Err((format!("{code}: {msg}"), error(code, &msg)));
    if st.revoked {
        return fail(
            "AuthFailure.SecretIdNotFound",
            "the SecretId has been revoked or does not exist".into(),
        );
    }
    let Some(auth_header) = req.header("authorization") else {
        return fail(
            "AuthFailure.InvalidAuthorization",
            "missing Authorization header".into(),
        );
    };
    let Some(auth) = parse_authorization(auth_header) else {
        return fail("AuthFailure.InvalidAuthorization", "Authorization is not `TC3-HMAC-SHA256 Credential=…/…/…/tc3_request, SignedHeaders=…, Signature=…`".into());
    };
    if req.header("x-tc-action").is_none_or(str::is_empty) {
        return fail(
            "MissingParameter",
            "the X-TC-Action header is required".into(),
        );
    }
    match req.header("x-tc-version") {
        Some(VERSION) => {}
        Some(v) => {
            return fail(
                "NoSuchVersion",
                format!("version {v:?} is not supported; use {VERSION}"),
            );
        }
        None => {
            return fail(
                "MissingParameter",
                "the X-TC-Version header is required".into(),
            );
        }
    }
    let Some(ts_header) = req.header("x-tc-timestamp") else {
        return fail(
            "MissingParameter",
            "the X-TC-Timestamp header is required".into(),
        );
    };
    let Ok(ts) = ts_header.parse::<i64>() else {
        return fail(
            "InvalidParameter",
            format!("X-TC-Timestamp {ts_header:?} is not Unix seconds"),
        );
    };
    let skew = i64::try_from(cfg.max_skew.as_secs()).unwrap_or(i64::MAX);
    if (now.unix_timestamp() - ts).abs() > skew {
        return fail(
            "AuthFailure.SignatureExpire",
            format!(
                "the request has expired: timestamp {ts} is more than {skew} s from server time {}",
                now.unix_timestamp()
            ),
        );
    }
    if auth.secret_id != cfg.secret_id {
        return fail(
            "AuthFailure.SecretIdNotFound",
            "the SecretId is not found".into(),
        );
    }
    if auth.date != utc_date(ts) || auth.service != SERVICE || auth.terminator != "tc3_request" {
        return fail(
            "AuthFailure.SignatureFailure",
            format!(
                "credential scope {}/{}/{} does not match {}/{SERVICE}/tc3_request",
                auth.date,
                auth.service,
                auth.terminator,
                utc_date(ts)
            ),
        );
    }
    let names: Vec<&str> = auth.signed_headers.split(';').collect();
    if !names.contains(&"content-type") || !names.contains(&"host") {
        return fail(
            "AuthFailure.SignatureFailure",
            "SignedHeaders must include content-type and host".into(),
        );
    }
    let mut headers = Vec::new();
    for name in &names {
        let Some(v) = req.header(name) else {
            return fail(
                "AuthFailure.SignatureFailure",
                format!("signed header {name} is missing from the request"),
            );
        };
        headers.push((*name, v));
    }
    let query = if req.method == "GET" {
        req.query.as_str()
    } else {
        ""
    };
    let creq = canonical_request(
        &req.method,
        query,
        &canonical_headers(&headers),
        auth.signed_headers,
        &req.body,
    );
    let expected = signature(
        &cfg.secret_key,
        auth.date,
        SERVICE,
        &string_to_sign(ts, auth.date, SERVICE, &creq),
    );
    if !super::constant_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return fail(
            "AuthFailure.SignatureFailure",
            "the provided credentials could not be validated: signature mismatch".into(),
        );
    }
    if let Some(token) = &cfg.token
        && req.header("x-tc-token") != Some(token.as_str())
    {
        return fail(
            "AuthFailure.TokenFailure",
            "the X-TC-Token is missing or invalid".into(),
        );
    }
    Ok(())
}

/// Handles one API call (faults already applied); records what it accepts or refuses in `st`.
pub(crate) fn handle(
    cfg: &FakeConfig,
    st: &mut State,
    req: &Request,
    now: OffsetDateTime,
) -> Response {
    let action = action_of(req).unwrap_or_default();
    if let Err((why, resp)) = authenticate(cfg, st, req, now) {
        let urls = urls_of(req);
        return st.refuse(&action, &urls, &why, resp);
    }
    let params = match params_of(req) {
        Ok(p) => p,
        Err(m) => return st.refuse(&action, &[], &m, error("InvalidParameter", &m)),
    };
    match action.as_str() {
        PUSH_ACTION => push_urls_cache(cfg, st, &params, now),
        "DescribePushQuota" if cfg.deny_quota => {
            let m = "no permission for cdn:DescribePushQuota (fake-cdn deny_quota)";
            st.refuse(
                &action,
                &[],
                m,
                error("UnauthorizedOperation.CdnCamUnauthorized", m),
            )
        }
        "DescribePushQuota" => describe_push_quota(cfg, st, now),
        "DescribePushTasks" => match describe_push_tasks(cfg, st, &params, now) {
            Ok(r) => r,
            Err((code, m)) => st.refuse(&action, &[], &m, error(code, &m)),
        },
        other => {
            let m = format!(
                "the action {other:?} does not exist (the fake serves PushUrlsCache, DescribePushQuota, DescribePushTasks)"
            );
            st.refuse(other, &[], &m, error("InvalidAction", &m))
        }
    }
}

const AREAS: [&str; 2] = ["mainland", "overseas"];

fn push_urls_cache(
    cfg: &FakeConfig,
    st: &mut State,
    p: &Map<String, Value>,
    now: OffsetDateTime,
) -> Response {
    let mut urls = string_list(p, "Urls");
    let refuse = |st: &mut State, urls: &[String], code: &str, m: String| {
        st.refuse(PUSH_ACTION, urls, &format!("{code}: {m}"), error(code, &m))
    };
    let param = "InvalidParameter.CdnParamError";
    match p.get("Urls") {
        None => {
            return refuse(
                st,
                &urls,
                "MissingParameter",
                "the Urls parameter is required".into(),
            );
        }
        Some(Value::Array(a)) if a.iter().any(|v| !v.is_string()) => {
            return refuse(st, &urls, param, "Urls must be an array of strings".into());
        }
        Some(Value::Array(_)) => {}
        Some(_) => return refuse(st, &urls, param, "Urls must be an array of strings".into()),
    }
    if urls.is_empty() {
        return refuse(st, &urls, param, "Urls is empty".into());
    }
    let per_request = cfg.per_request.unwrap_or(500);
    if urls.len() > per_request {
        return refuse(
            st,
            &urls,
            "LimitExceeded.CdnPushExceedBatchLimit",
            format!(
                "预热的Url数量超过单次限制: {} urls, at most {per_request}",
                urls.len()
            ),
        );
    }
    let area = match opt_str(p, "Area") {
        Ok(None) => "mainland",
        Ok(Some(a @ ("mainland" | "overseas" | "global"))) => a,
        Ok(Some(a)) => {
            return refuse(
                st,
                &urls,
                param,
                format!("Area {a:?} must be mainland, overseas or global"),
            );
        }
        Err(m) => return refuse(st, &urls, param, m),
    };
    if let Err(m) = check_options(p) {
        return refuse(st, &urls, param, m);
    }
    let url_encode = match opt_bool(p, "UrlEncode") {
        Ok(b) => b.unwrap_or(false),
        Err(m) => return refuse(st, &urls, param, m),
    };
    for u in &urls {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return refuse(
                st,
                &urls,
                param,
                format!("url {u} must include http:// or https://"),
            );
        }
        if cfg.bad_urls.iter().any(|b| b == u) {
            return refuse(st, &urls, param, format!("url {u} is invalid"));
        }
        let host = url::Url::parse(u)
            .ok()
            .and_then(|x| x.host_str().map(str::to_string));
        let Some(host) = host else {
            return refuse(st, &urls, param, format!("url {u} has no valid host"));
        };
        if !cfg.domains.iter().any(|d| d.eq_ignore_ascii_case(&host)) {
            return refuse(
                st,
                &urls,
                "ResourceNotFound.CdnHostNotExists",
                format!("未查询到该域名: {host} ({u})"),
            );
        }
        for (h, a) in &cfg.not_in_area {
            if h.eq_ignore_ascii_case(&host) && (a == area || area == "global") {
                return refuse(
                    st,
                    &urls,
                    "InvalidParameter.CdnHostInvalidParam",
                    format!(
                        "域名 {host} 未部署在 {a}: the domain is not accelerated in area {a} ({u})"
                    ),
                );
            }
        }
    }
    st.roll_day(now);
    let n = urls.len() as u64;
    let spends: Vec<usize> = match area {
        "mainland" => vec![0],
        "overseas" => vec![1],
        _ => vec![0, 1],
    };
    if let Some(&short) = spends.iter().find(|&&i| st.left(i, cfg.per_day) < n) {
        let left = st.left(short, cfg.per_day);
        return refuse(
            st,
            &urls,
            "LimitExceeded.CdnPushExceedDayLimit",
            format!(
                "预热的Url数量超过每日限制: {n} urls, {left} left today in {}",
                AREAS[short]
            ),
        );
    }
    for i in spends {
        st.spent[i] += n;
    }
    if url_encode {
        urls = urls.iter().map(|u| encode_url(u)).collect();
    }
    let id = st.new_task(cfg, &urls, area, now);
    let mut out = Map::new();
    out.insert("TaskId".into(), Value::String(id));
    ok(out)
}

/// `Layer`, `UserAgent`, `Headers` (≤20, Name ≤128 B, Value ≤1024 B) and the boolean flags.
fn check_options(p: &Map<String, Value>) -> Result<(), String> {
    match opt_str(p, "Layer")? {
        None | Some("" | "middle") => {}
        Some(l) => return Err(format!("Layer {l:?} must be \"middle\" or empty")),
    }
    opt_str(p, "UserAgent")?;
    opt_bool(p, "ParseM3U8")?;
    opt_bool(p, "DisableRange")?;
    match p.get("Headers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(hs)) => {
            if hs.len() > 20 {
                return Err(format!("Headers has {} entries, at most 20", hs.len()));
            }
            for h in hs {
                let name = h
                    .get("Name")
                    .and_then(Value::as_str)
                    .ok_or("each Headers entry needs a string Name")?;
                let value = h
                    .get("Value")
                    .and_then(Value::as_str)
                    .ok_or("each Headers entry needs a string Value")?;
                if name.is_empty() || name.len() > 128 || value.len() > 1024 {
                    return Err(format!(
                        "header {name:?}: Name must be 1..=128 bytes and Value at most 1024"
                    ));
                }
            }
        }
        Some(_) => return Err("Headers must be an array of {Name, Value}".into()),
    }
    Ok(())
}

fn encode_url(u: &str) -> String {
    let mut out = String::with_capacity(u.len());
    for b in u.bytes() {
        if b == b'%' || !(0x21..0x7f).contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

fn describe_push_quota(cfg: &FakeConfig, st: &mut State, now: OffsetDateTime) -> Response {
    st.roll_day(now);
    let batch = cfg.per_request.unwrap_or(500);
    let quotas: Vec<Value> = AREAS
        .iter()
        .enumerate()
        .map(|(i, a)| json!({"Batch": batch, "Total": cfg.per_day, "Available": st.left(i, cfg.per_day), "Area": a}))
        .collect();
    let mut out = Map::new();
    out.insert("UrlPush".into(), Value::Array(quotas));
    ok(out)
}

fn parse_beijing(s: &str) -> Option<OffsetDateTime> {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(s, fmt)
        .ok()
        .map(|t| t.assume_offset(super::CDN_OFFSET))
}

fn describe_push_tasks(
    cfg: &FakeConfig,
    st: &State,
    p: &Map<String, Value>,
    now: OffsetDateTime,
) -> Result<Response, (&'static str, String)> {
    let bad = |m: String| ("InvalidParameter", m);
    let task_id = opt_str(p, "TaskId").map_err(bad)?;
    let start = opt_str(p, "StartTime").map_err(bad)?;
    let end = opt_str(p, "EndTime").map_err(bad)?;
    if task_id.is_none() && start.is_none() {
        return Err((
            "MissingParameter",
            "TaskId or StartTime must be given".into(),
        ));
    }
    let time_of =
        |s: Option<&str>, name: &str| -> Result<Option<OffsetDateTime>, (&'static str, String)> {
            s.map(|v| {
                parse_beijing(v)
                    .ok_or_else(|| bad(format!("{name} {v:?} must look like 2018-08-08 00:00:00")))
            })
            .transpose()
        };
    let start = time_of(start, "StartTime")?;
    let end = time_of(end, "EndTime")?;
    let area = opt_str(p, "Area").map_err(bad)?;
    let status_filter = opt_str(p, "Status").map_err(bad)?;
    let keyword = opt_str(p, "Keyword").map_err(bad)?;
    let offset =
        usize::try_from(opt_u64(p, "Offset").map_err(bad)?.unwrap_or(0)).unwrap_or(usize::MAX);
    let limit =
        usize::try_from(opt_u64(p, "Limit").map_err(bad)?.unwrap_or(20)).unwrap_or(usize::MAX);

    let mut logs = Vec::new();
    // Newest first, as the console lists them.
    for task in st.tasks.iter().rev() {
        if task_id.is_some_and(|id| id != task.id)
            || start.is_some_and(|s| task.created < s)
            || end.is_some_and(|e| task.created > e + time::Duration::seconds(1))
            || area.is_some_and(|a| a != task.area)
        {
            continue;
        }
        for url in &task.urls {
            if keyword.is_some_and(|k| !url.contains(k)) {
                continue;
            }
            let (status, percent, updated) = status_of(cfg, task, url, now);
            if status_filter.is_some_and(|s| !s.eq_ignore_ascii_case(&status)) {
                continue;
            }
            logs.push(json!({
                "TaskId": task.id,
                "Url": url,
                "Status": status,
                "Percent": percent,
                "CreateTime": super::beijing(task.created),
                "Area": task.area,
                "UpdateTime": updated.map(super::beijing),
            }));
        }
    }
    let total = logs.len();
    let page: Vec<Value> = logs.into_iter().skip(offset).take(limit).collect();
    let mut out = Map::new();
    out.insert("PushLogs".into(), Value::Array(page));
    out.insert("TotalCount".into(), json!(total));
    Ok(ok(out))
}

/// A URL's status now: `process` until `task_duration` has passed, then `fail` / `invalid` / `done`.
fn status_of(
    cfg: &FakeConfig,
    task: &Task,
    url: &str,
    now: OffsetDateTime,
) -> (String, u64, Option<OffsetDateTime>) {
    let elapsed = (now - task.created).max(time::Duration::ZERO);
    let duration = time::Duration::try_from(cfg.task_duration).unwrap_or(time::Duration::MAX);
    if elapsed < duration {
        let pct = (elapsed.as_seconds_f64() / duration.as_seconds_f64() * 100.0).clamp(0.0, 99.0);
        // Percent is whole, 0..=99, while in process.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped to 0..=99"
        )]
        let pct = pct as u64;
        return ("process".into(), pct, None);
    }
    let finished = Some(task.created + duration);
    if cfg.fail_urls.iter().any(|u| u == url) {
        ("fail".into(), 0, finished)
    } else if cfg.invalid_urls.iter().any(|u| u == url) {
        ("invalid".into(), 0, finished)
    } else {
        let done = if cfg.capitalised_status {
            "Done"
        } else {
            "done"
        };
        (done.into(), 100, finished)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const BODY: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;

    fn official_string_to_sign() -> String {
        assert_eq!(
            sha256_hex(BODY.as_bytes()),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let headers = canonical_headers(&[
            ("Host", "cvm.tencentcloudapi.com"),
            ("Content-Type", "application/json; charset=utf-8"),
        ]);
        assert_eq!(
            headers,
            "content-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n"
        );
        let creq = canonical_request("POST", "", &headers, "content-type;host", BODY.as_bytes());
        assert_eq!(
            sha256_hex(creq.as_bytes()),
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(utc_date(1_551_113_065), "2019-02-25");
        string_to_sign(1_551_113_065, "2019-02-25", "cvm", &creq)
    }

    /// §3.6, the current docs' key.
    #[test]
    fn known_answer_current_key() {
        let sts = official_string_to_sign();
        assert_eq!(
            signature(
                "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
                "2019-02-25",
                "cvm",
                &sts
            ),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    /// §3.6, the masked-key docs (asterisks are part of the key), and the old v2 key on the same input.
    #[test]
    fn known_answer_masked_key() {
        let sts = official_string_to_sign();
        assert_eq!(
            signature(
                "Gu5t9xGARNpq86cd98joQYCN3*******",
                "2019-02-25",
                "cvm",
                &sts
            ),
            "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
        );
        assert_eq!(
            signature(
                "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA",
                "2019-02-25",
                "cvm",
                &sts
            ),
            "8571a3fd5c5a24cb2b8e10509e02add887e49e59370eed066496522e687e8f6b"
        );
    }

    #[test]
    fn authorization_parses_back() {
        let h = authorization(
            "AKIDx",
            "k",
            1_551_113_065,
            "POST",
            "",
            "application/json",
            "h:1",
            b"{}",
        );
        let a = parse_authorization(&h).unwrap();
        assert_eq!(
            (a.secret_id, a.date, a.service, a.terminator),
            ("AKIDx", "2019-02-25", "cdn", "tc3_request")
        );
        assert_eq!(a.signed_headers, "content-type;host");
        assert_eq!(a.signature.len(), 64);
        assert!(parse_authorization("HMAC Credential=a").is_none());
        assert!(
            parse_authorization("TC3-HMAC-SHA256 Credential=a/b/c, SignedHeaders=x, Signature=y")
                .is_none()
        );
    }

    #[test]
    fn get_params_nest_and_encode_url_doubles_percent() {
        let mut root = Value::Object(Map::new());
        insert_path(&mut root, &["Urls", "1"], json!("b")).unwrap();
        insert_path(&mut root, &["Urls", "0"], json!("a")).unwrap();
        insert_path(&mut root, &["Headers", "0", "Name"], json!("X")).unwrap();
        assert_eq!(
            root,
            json!({"Urls": ["a", "b"], "Headers": [{"Name": "X"}]})
        );
        assert!(insert_path(&mut root, &["Urls", "x"], json!("c")).is_err());
        assert_eq!(encode_url("http://h/文 %20"), "http://h/%E6%96%87%20%2520");
    }
}
