package outputs

import "encoding/binary"

// jksWellFormed walks a JKS file's structure and reports whether every
// length field fits in the data and the file ends exactly after the digest.
// keystore-go trusts those fields and allocates what they say before
// reading: up to 4 GiB per field, and 40 bytes per claimed certificate, so a
// 14-byte entry claiming 4 billion certificates is a fatal out-of-memory
// crash of the operator, not an error. An untrusted store (whatever is in
// the target Secret) is therefore walked here first. Layout (big-endian):
//
//	magic u32 (FEEDFEED), version u32 (1 or 2), count u32, entries, SHA-1 digest (20 bytes)
//	entry: tag u32 (1 key, 2 trusted cert), alias (u16 length + bytes), time u64, then
//	  tag 1: key (u32 length + bytes), n u32, n certificates
//	  tag 2: one certificate
//	certificate: [version 2: type (u16 length + bytes)], u32 length + bytes
func jksWellFormed(data []byte) bool {
	w := walker{data: data}
	if w.u32() != 0xFEEDFEED {
		return false
	}
	version := w.u32()
	if version != 1 && version != 2 {
		return false
	}
	cert := func() {
		if version == 2 {
			w.skip(uint64(w.u16()))
		}
		w.skip(uint64(w.u32()))
	}
	for n := w.u32(); n > 0 && !w.bad; n-- {
		tag := w.u32()
		w.skip(uint64(w.u16())) // alias
		w.skip(8)               // creation time
		switch tag {
		case 1:
			w.skip(uint64(w.u32())) // encrypted key
			for c := w.u32(); c > 0 && !w.bad; c-- {
				cert()
			}
		case 2:
			cert()
		default:
			return false
		}
	}
	w.skip(20) // digest
	return !w.bad && w.off == len(w.data)
}

// walker reads big-endian fields; once a read would run past the end it
// sets bad, and every later read returns zero, so callers check once.
type walker struct {
	data []byte
	off  int
	bad  bool
}

func (w *walker) take(n uint64) []byte {
	if w.bad || n > uint64(len(w.data)-w.off) {
		w.bad = true
		return nil
	}
	b := w.data[w.off : w.off+int(n)]
	w.off += int(n)
	return b
}

func (w *walker) skip(n uint64) { w.take(n) }

func (w *walker) u16() uint16 {
	if b := w.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (w *walker) u32() uint32 {
	if b := w.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}
