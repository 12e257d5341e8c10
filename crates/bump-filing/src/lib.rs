/*!
Filing likely defects through Open311, routed to the right municipality,
exactly once.

- [`registry`]: municipalities' boundary polygons, endpoints, service codes
  and key variables; point-in-polygon routing.
- [`policy`]: which cluster is filed where, pure; the description with its
  evidence, link and marker.
- [`outbox`]: the durable life of a filing and the storage interface.
- [`filer`]: enqueue, deliver (post, reconcile, poll tokens) and sync.
*/

pub mod filer;
pub mod outbox;
pub mod policy;
pub mod registry;

pub use filer::{Delivery, Filer, Planned, PlannedOutcome, Sync};
pub use outbox::{Filing, FilingState, MemoryOutbox, NewFiling, Outbox, StoreError};
pub use policy::{Candidate, Decision, Skip, decide};
pub use registry::{Jurisdiction, Registry, RegistryError};
