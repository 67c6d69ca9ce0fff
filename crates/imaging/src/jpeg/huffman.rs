//! Entropy-coded data: the bit reader (byte stuffing, markers) and
//! Huffman tables with a 9-bit lookup for the common short codes.

/// Bits looked up in one step; longer codes take the slow path.
const LOOKUP_BITS: u32 = 9;

/// A Huffman table from a DHT segment.
#[derive(Clone)]
pub(super) struct HuffTable {
    /// `(length << 8) | symbol` for every 9-bit prefix whose code is at
    /// most 9 bits long, 0 otherwise.
    lookup: Vec<u16>,
    /// Largest code of each length 1..=16 (index = length), -1 if none.
    max_code: [i32; 18],
    /// `values` index of the first code of each length, minus that code.
    offset: [i32; 17],
    /// Symbols in code order.
    values: Vec<u8>,
    /// For AC tables: `(value << 8) | (run << 4) | total_bits` for every
    /// 9-bit prefix holding a whole small coefficient (code plus its
    /// magnitude bits), 0 otherwise: one lookup instead of two reads.
    fast_ac: Vec<i16>,
}

impl HuffTable {
    /// Builds a table from the 16 code-length counts and the symbols of a
    /// DHT segment; `None` if the counts describe an impossible code.
    pub(super) fn new(counts: &[u8; 16], values: &[u8]) -> Option<Self> {
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if total > 256 || total != values.len() {
            return None;
        }
        let mut lookup = vec![0u16; 1 << LOOKUP_BITS];
        let mut max_code = [-1i32; 18];
        let mut offset = [0i32; 17];
        let mut code: i32 = 0;
        let mut k: i32 = 0;
        for len in 1..=16u32 {
            let n = i32::from(counts[(len - 1) as usize]);
            offset[len as usize] = k - code;
            if n > 0 {
                for i in 0..n {
                    let c = code + i;
                    if len <= LOOKUP_BITS {
                        let shift = LOOKUP_BITS - len;
                        let first = (c as usize) << shift;
                        let symbol = values.get((k + i) as usize).copied()?;
                        let entry = ((len as u16) << 8) | u16::from(symbol);
                        for slot in lookup.get_mut(first..first + (1 << shift))? {
                            *slot = entry;
                        }
                    }
                }
                code += n;
                k += n;
                max_code[len as usize] = code - 1;
                // A code of `len` bits cannot exceed 2^len - 1.
                if code > (1 << len) {
                    return None;
                }
            }
            code <<= 1;
        }
        let mut fast_ac = vec![0i16; 1 << LOOKUP_BITS];
        for (i, slot) in fast_ac.iter_mut().enumerate() {
            let entry = lookup[i];
            if entry == 0 {
                continue;
            }
            let len = u32::from(entry >> 8);
            let rs = entry & 0xFF;
            let (run, size) = (rs >> 4, u32::from(rs & 15));
            if size == 0 || len + size > LOOKUP_BITS {
                continue;
            }
            // The magnitude bits follow the code inside the same prefix.
            let bits = ((i as u32) >> (LOOKUP_BITS - len - size)) & ((1 << size) - 1);
            let value = if bits < (1 << (size - 1)) {
                bits as i32 - (1 << size) + 1
            } else {
                bits as i32
            };
            if (-128..=127).contains(&value) {
                *slot = ((value << 8) | (i32::from(run) << 4) | (len + size) as i32) as i16;
            }
        }
        Some(Self {
            lookup,
            max_code,
            offset,
            values: values.to_vec(),
            fast_ac,
        })
    }
}

/// Reads bits from entropy-coded data, undoing `FF 00` stuffing and
/// stopping (feeding zero bits) at the first marker or the end of data.
pub(super) struct BitReader<'a> {
    data: &'a [u8],
    /// Next byte to load.
    pos: usize,
    /// Bits, MSB first.
    acc: u64,
    /// Valid bits in `acc`.
    bits: u32,
    /// A marker (or the end of data) was reached; `pos` stays at it.
    stopped: bool,
    /// Zero bytes fed after stopping: a measure of how far decoding ran
    /// past the real data.
    fake_bytes: usize,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            acc: 0,
            bits: 0,
            stopped: false,
            fake_bytes: 0,
        }
    }

    /// Position of the next unread byte (at a marker once stopped).
    pub(super) fn position(&self) -> usize {
        self.pos
    }

    /// How many zero bytes were made up past the real data.
    pub(super) fn fake_bytes(&self) -> usize {
        self.fake_bytes
    }

    #[inline(always)]
    fn fill(&mut self) {
        // Fast path: four bytes, none of them 0xFF, in one load.
        if self.bits <= 32 && !self.stopped {
            if let Some(chunk) = self.data.get(self.pos..self.pos + 4) {
                let w = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                let inv = !w;
                let has_ff = inv.wrapping_sub(0x0101_0101) & !inv & 0x8080_8080 != 0;
                if !has_ff {
                    self.acc |= u64::from(w) << (32 - self.bits);
                    self.bits += 32;
                    self.pos += 4;
                    return;
                }
            }
        }
        while self.bits <= 56 {
            let byte = if self.stopped {
                self.fake_bytes += 1;
                0
            } else {
                match self.data.get(self.pos) {
                    None => {
                        self.stopped = true;
                        self.fake_bytes += 1;
                        0
                    }
                    Some(&0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                        self.pos += 2;
                        0xFF
                    }
                    Some(&0xFF) => {
                        self.stopped = true;
                        self.fake_bytes += 1;
                        0
                    }
                    Some(&b) => {
                        self.pos += 1;
                        b
                    }
                }
            };
            self.acc |= u64::from(byte) << (56 - self.bits);
            self.bits += 8;
        }
    }

    /// Reads `n` bits (0..=16) as an unsigned number.
    #[inline(always)]
    pub(super) fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.bits < n {
            self.fill();
        }
        let v = (self.acc >> (64 - n)) as u32;
        self.acc <<= n;
        self.bits -= n;
        v
    }

    /// Reads one bit.
    #[inline(always)]
    pub(super) fn bit(&mut self) -> bool {
        self.bits(1) != 0
    }

    /// Reads `n` bits and sign-extends them as JPEG magnitude categories do.
    #[inline(always)]
    pub(super) fn receive_extend(&mut self, n: u32) -> i32 {
        if n == 0 {
            return 0;
        }
        let n = n.min(16);
        let v = self.bits(n) as i32;
        if v < (1 << (n - 1)) {
            v - (1 << n) + 1
        } else {
            v
        }
    }

    /// One small AC coefficient in a single step, if the next bits hold
    /// one the table's `fast_ac` knows: `(run, value)`.
    #[inline(always)]
    pub(super) fn fast_ac(&mut self, table: &HuffTable) -> Option<(usize, i32)> {
        if self.bits < 16 {
            self.fill();
        }
        let peek = (self.acc >> (64 - LOOKUP_BITS)) as usize;
        let entry = table.fast_ac.get(peek).copied().unwrap_or(0);
        if entry == 0 {
            return None;
        }
        let len = (entry & 15) as u32;
        self.acc <<= len;
        self.bits -= len;
        Some((((entry >> 4) & 15) as usize, i32::from(entry >> 8)))
    }

    /// Decodes one Huffman symbol; `None` for a code not in the table.
    #[inline(always)]
    pub(super) fn decode(&mut self, table: &HuffTable) -> Option<u8> {
        if self.bits < 16 {
            self.fill();
        }
        let peek = (self.acc >> (64 - LOOKUP_BITS)) as usize;
        let entry = table.lookup.get(peek).copied().unwrap_or(0);
        if entry != 0 {
            let len = u32::from(entry >> 8);
            self.acc <<= len;
            self.bits -= len;
            return Some(entry as u8);
        }
        for len in (LOOKUP_BITS + 1)..=16 {
            let code = (self.acc >> (64 - len)) as i32;
            if code <= table.max_code[len as usize] {
                self.acc <<= len;
                self.bits -= len;
                let index = table.offset[len as usize] + code;
                return usize::try_from(index)
                    .ok()
                    .and_then(|i| table.values.get(i).copied());
            }
        }
        None
    }

    /// Skips to the byte after the next RSTn marker and clears the bit
    /// buffer: the decoder state a restart interval starts from.
    pub(super) fn restart(&mut self) {
        self.acc = 0;
        self.bits = 0;
        self.stopped = false;
        // Normally the marker is right here; search forward if the data
        // before it was corrupt, but never past a non-RST marker.
        while let Some(&b) = self.data.get(self.pos) {
            if b != 0xFF {
                self.pos += 1;
                continue;
            }
            match self.data.get(self.pos + 1) {
                Some(0xD0..=0xD7) => {
                    self.pos += 2;
                    return;
                }
                Some(0x00) | Some(0xFF) => self.pos += 1,
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huffman_table_decodes_short_and_long_codes() {
        // Lengths: one 2-bit code (00 -> 5), one 3-bit (010 -> 7), and a
        // 12-bit code (0110 0000 0000 -> 9).
        let mut counts = [0u8; 16];
        counts[1] = 1;
        counts[2] = 1;
        counts[11] = 1;
        let table = HuffTable::new(&counts, &[5, 7, 9]).unwrap();
        // 00 010 011000000000 then padding ones.
        let bits: u32 = 0b0_0010_0110_0000_0000;
        let stream = (bits << (32 - 17)) | ((1 << (32 - 17)) - 1);
        let data = stream.to_be_bytes();
        // No 0xFF in the first bytes of this stream.
        let mut r = BitReader::new(&data, 0);
        assert_eq!(r.decode(&table), Some(5));
        assert_eq!(r.decode(&table), Some(7));
        assert_eq!(r.decode(&table), Some(9));
    }

    #[test]
    fn huffman_rejects_overfull_code() {
        let mut counts = [0u8; 16];
        counts[0] = 3; // three 1-bit codes cannot exist
        assert!(HuffTable::new(&counts, &[1, 2, 3]).is_none());
    }

    #[test]
    fn bit_reader_unstuffs_and_stops_at_markers() {
        let data = [0xFF, 0x00, 0xA5, 0xFF, 0xD9];
        let mut r = BitReader::new(&data, 0);
        assert_eq!(r.bits(8), 0xFF);
        assert_eq!(r.bits(8), 0xA5);
        assert_eq!(r.bits(16), 0);
        assert_eq!(r.position(), 3);
        assert!(r.fake_bytes() > 0);
        assert_eq!(r.receive_extend(0), 0);
    }

    #[test]
    fn bit_reader_extends_signs() {
        // 0b0 (1 bit) -> -1, 0b1 -> 1, 0b01 (2 bits) -> -2.
        let data = [0b0101_0000, 0];
        let mut r = BitReader::new(&data, 0);
        assert_eq!(r.receive_extend(1), -1);
        assert_eq!(r.receive_extend(1), 1);
        assert_eq!(r.receive_extend(2), -2);
    }
}
