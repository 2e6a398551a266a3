//! The store's tables inside one write transaction, and the operations on them that keep the
//! indexes, the totals and each mailbox's usage in step.

use crate::StoreError;
use crate::keys::{cost, expiry_key, hash_key, msg_key, parse_value, u64_at};
use pars_wire::swarm::ContentHash;
use redb::ReadableTable;

pub(crate) struct Tables<'t> {
    pub(crate) messages: redb::Table<'t, &'static [u8], &'static [u8]>,
    pub(crate) hashes: redb::Table<'t, &'static [u8], u64>,
    pub(crate) expiry: redb::Table<'t, &'static [u8], &'static [u8]>,
    pub(crate) meta: redb::Table<'t, &'static str, u64>,
    pub(crate) usage: redb::Table<'t, &'static [u8], &'static [u8]>,
}

impl Tables<'_> {
    pub(crate) fn meta_get(&self, k: &str) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(k)
            .map_err(StoreError::db)?
            .map(|g| g.value())
            .unwrap_or(0))
    }

    pub(crate) fn hash_seq(
        &self,
        mailbox: &[u8],
        hash: &ContentHash,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self
            .hashes
            .get(hash_key(mailbox, hash).as_slice())
            .map_err(StoreError::db)?
            .map(|g| g.value()))
    }

    pub(crate) fn expiry_of(&self, mailbox: &[u8], seq: u64) -> Result<u64, StoreError> {
        let v = self
            .messages
            .get(msg_key(mailbox, seq).as_slice())
            .map_err(StoreError::db)?
            .ok_or(StoreError::Corrupt("hash index points at no message"))?;
        Ok(parse_value(v.value())?.0)
    }

    /// What `mailbox` is charged for: (bytes, messages).
    pub(crate) fn usage(&self, mailbox: &[u8]) -> Result<(u64, u64), StoreError> {
        if let Some(v) = self.usage.get(mailbox).map_err(StoreError::db)? {
            let v = v.value();
            return Ok((u64_at(v, 0, "usage bytes")?, u64_at(v, 8, "usage count")?));
        }
        // Written before per-mailbox accounting (or empty): counted from its messages.
        let seqs = self.mailbox_seqs(mailbox)?;
        Ok((seqs.iter().map(|(_, c)| c).sum(), seqs.len() as u64))
    }

    pub(crate) fn set_usage(
        &mut self,
        mailbox: &[u8],
        bytes: u64,
        items: u64,
    ) -> Result<(), StoreError> {
        if items == 0 {
            self.usage.remove(mailbox).map_err(StoreError::db)?;
        } else {
            let mut v = [0u8; 16];
            v[..8].copy_from_slice(&bytes.to_be_bytes());
            v[8..].copy_from_slice(&items.to_be_bytes());
            self.usage
                .insert(mailbox, v.as_slice())
                .map_err(StoreError::db)?;
        }
        Ok(())
    }

    /// Removes one message and its index entries; returns the bytes it was charged.
    pub(crate) fn remove(&mut self, mailbox: &[u8], seq: u64) -> Result<u64, StoreError> {
        // Read before the message goes: an uncounted mailbox is counted with it.
        let (mb_bytes, mb_items) = self.usage(mailbox)?;
        let Some(v) = self
            .messages
            .remove(msg_key(mailbox, seq).as_slice())
            .map_err(StoreError::db)?
        else {
            return Err(StoreError::Corrupt("index points at no message"));
        };
        let (expires, hash, payload) = parse_value(v.value())?;
        let charged = cost(payload.len());
        drop(v);
        self.hashes
            .remove(hash_key(mailbox, &hash).as_slice())
            .map_err(StoreError::db)?;
        self.expiry
            .remove(expiry_key(expires, seq).as_slice())
            .map_err(StoreError::db)?;
        self.set_usage(
            mailbox,
            mb_bytes.saturating_sub(charged),
            mb_items.saturating_sub(1),
        )?;
        Ok(charged)
    }

    pub(crate) fn set_expiry(
        &mut self,
        mailbox: &[u8],
        seq: u64,
        expires_at_ms: u64,
    ) -> Result<(), StoreError> {
        let key = msg_key(mailbox, seq);
        let mut value = self
            .messages
            .get(key.as_slice())
            .map_err(StoreError::db)?
            .ok_or(StoreError::Corrupt("index points at no message"))?
            .value()
            .to_vec();
        let old = u64_at(&value, 0, "message expiry")?;
        value[..8].copy_from_slice(&expires_at_ms.to_be_bytes());
        self.messages
            .insert(key.as_slice(), value.as_slice())
            .map_err(StoreError::db)?;
        self.expiry
            .remove(expiry_key(old, seq).as_slice())
            .map_err(StoreError::db)?;
        self.expiry
            .insert(expiry_key(expires_at_ms, seq).as_slice(), mailbox)
            .map_err(StoreError::db)?;
        Ok(())
    }

    pub(crate) fn mailbox_seqs(&self, mailbox: &[u8]) -> Result<Vec<(u64, u64)>, StoreError> {
        let start = msg_key(mailbox, 0);
        let end = msg_key(mailbox, u64::MAX);
        let mut out = Vec::new();
        for e in self
            .messages
            .range(start.as_slice()..=end.as_slice())
            .map_err(StoreError::db)?
        {
            let (k, v) = e.map_err(StoreError::db)?;
            let (_, _, payload) = parse_value(v.value())?;
            out.push((
                u64_at(k.value(), mailbox.len(), "message key")?,
                cost(payload.len()),
            ));
        }
        Ok(out)
    }

    pub(crate) fn mailbox_cost(&self, mailbox: &[u8]) -> Result<u64, StoreError> {
        Ok(self.mailbox_seqs(mailbox)?.iter().map(|(_, c)| c).sum())
    }

    /// Removes every message of a mailbox; returns (count, bytes).
    pub(crate) fn clear_mailbox(&mut self, mailbox: &[u8]) -> Result<(u64, u64), StoreError> {
        let seqs = self.mailbox_seqs(mailbox)?;
        let mut bytes = 0;
        for (seq, _) in &seqs {
            bytes += self.remove(mailbox, *seq)?;
        }
        Ok((seqs.len() as u64, bytes))
    }
}
