//! What a storage adapter reports when the browser refuses to keep something, with the text the
//! user reads: storage is a fact the browser layer observes, its meaning is decided here.

/// Which store an operation used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Session,
    Local,
    Memory,
}

impl StoreKind {
    /// The store's name as the browser calls it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Session => "sessionStorage",
            Self::Local => "localStorage",
            Self::Memory => "memory",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageError {
    /// The browser refuses access to this storage at all.
    Unavailable { kind: StoreKind, detail: String },
    /// The storage is full.
    QuotaExceeded { kind: StoreKind },
    /// Any other failure of a read or write.
    Failed { kind: StoreKind, detail: String },
}

impl StorageError {
    pub fn title(&self) -> String {
        match self {
            Self::Unavailable { kind, .. } => {
                format!("This browser does not let the page use {}.", kind.name())
            }
            Self::QuotaExceeded { kind } => format!("The browser's {} is full.", kind.name()),
            Self::Failed { kind, detail } => {
                format!("Writing to {} failed: {detail}.", kind.name())
            }
        }
    }

    pub fn hint(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } => {
                "Sign-in has to remember a one-time secret while you visit RingCentral. Allow site data for this page (turn off blocking of storage or strict private mode), then reload."
            }
            Self::QuotaExceeded { .. } => {
                "Close other tabs of this site or clear its site data, then try again."
            }
            Self::Failed { .. } => "Reload the page and try again.",
        }
    }
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.title())
    }
}
