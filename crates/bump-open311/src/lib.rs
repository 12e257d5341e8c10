/*!
An Open311 GeoReport v2 client.

- [`Client`]: one endpoint; service discovery ([`Client::discover`]), the
  service list and definitions, POST Service Request, tokens of `batch`
  services, GET Service Requests by ids or by 90-day windows with paging, and
  GET one request with the fallback real servers need.
- [`decode`]: XML and JSON into one tree (Spark convention), lenient with
  what real servers send; [`model`]: the typed resources read from it.
- [`error`]: errors classified by HTTP status first, bodies of any shape.
- [`retry`]: the retry policy for reads and a per-endpoint circuit breaker,
  pure and driven by the caller's clock.
- [`form`]: the POST form, strict in what it sends.

```no_run
# async fn run() -> Result<(), bump_open311::Error> {
use bump_open311::{Client, EndpointConfig, Format, NewRequest};
let mut cfg = EndpointConfig::new("https://city.example/open311/v2/", Format::Json);
cfg.api_key = Some("secret".into());
let client = Client::new(cfg)?;
let reply = client
    .post_request(&NewRequest { service_code: "REQPOTHL".into(), lat: 42.35, long: -71.06, ..Default::default() })
    .await?;
println!("{:?}", reply.service_request_id);
# Ok(()) }
```
*/

pub mod client;
pub mod decode;
pub mod error;
pub mod form;
pub mod model;
pub mod retry;

pub use client::{Client, EndpointConfig, RequestQuery, TokenState, split_windows};
pub use error::{ApiError, Error, ErrorClass};
pub use form::{AttributeValue, NewRequest};
pub use model::{
    Attribute, Datatype, Discovery, Format, PostReply, RequestStatus, Service, ServiceDefinition, ServiceKind,
    ServiceRequest,
};
pub use retry::{BreakerConfig, CircuitBreaker, RetryPolicy};
