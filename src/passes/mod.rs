//! Named passes, the Pass trait, the registry and the pass manager.
