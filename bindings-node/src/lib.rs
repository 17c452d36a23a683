//! Placeholder for the node bindings of heirloom. The binding itself is not
//! built yet; this crate only keeps the workspace layout whole.
