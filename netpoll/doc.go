// Package netpoll is barge's network transport: the only importer of gnet. It
// accepts client connections, feeds what they send to a broker.Session, and
// implements broker.Transport, the ordered outbound queue the broker writes
// into from any goroutine.
//
// # Accepting
//
// The listening socket is a net.TCPListener of ours, and gnet runs as a
// "client" engine (gnet.Client): event loops without a listener of their
// own. gnet's acceptor is not used because it stops the whole engine, every
// connection with it, on an accept error it does not expect, such as EMFILE.
// One goroutine per Server accepts and enrolls each connection into the
// event loops (Client.EnrollContext: gnet duplicates the descriptor,
// registers the duplicate on the least busy loop, runs OnOpen there and
// returns; the original is closed). Accept errors never stop it: out of
// file descriptors, it closes a descriptor held in reserve, accepts the
// pending connection and closes it at once (the client gets a prompt close
// rather than hanging in the backlog), and reopens the reserve; other errors
// are logged and retried after a backoff of 10 ms doubling to 1 s, as
// nats-server does. Only a listening socket that is gone (closed, or no
// longer listening) stops it, which Server.Health then reports.
//
// # Thread model
//
// gnet runs a fixed number of event loops (Options.Loops). Every connection
// belongs to one loop; its open, traffic and close callbacks, every call into
// its broker.Session, and every call into gnet's non-goroutine-safe Conn
// methods (Write, Writev, OutboundBuffered) happen on that loop. Other
// goroutines reach a loop only through EventLoop().Execute, which runs a task
// on the loop later (gnet allocates a little for each such hop).
//
// Writers (broker goroutines, or the loop itself while the session handles
// input) call Transport.Write / Stream.Write under the connection's mutex. One
// more goroutine per Server, the ticker, revisits connections that have a
// backlog every Options.DrainInterval: gnet tells the application nothing when
// a socket becomes writable again, so a periodic drain is the only way to
// refill gnet's outbound buffer once it has flushed.
//
// # The outbound queue
//
//	Write / Stream.Write            drain (on the loop)              socket
//	────────────────────► [ queue ] ────────────────────► [ gnet outbound ] ──►
//	    copy into pooled     items:    only while gnet's       gnet's own
//	    chunks, or append    mem chunk  OutboundBuffered()      buffer, flushed
//	    to the spill file    file extent  < WriteWatermark      on EPOLLOUT
//	                         stream slot
//
// The queue is an ordered list of items. An item is a run of bytes in a pooled
// 64 KiB chunk (small writes coalesce into the tail chunk), a file extent
// (*os.File, offset, length: staged bytes in the connection's spill file, or a
// caller's file handed to WriteFile) read back with pread at drain time, or a
// stream slot. A slot, opened by BeginStream, holds its own list of items; the
// drain does not go past a slot until it has ended, so everything written
// after BeginStream — to the Transport or to a later Stream — waits behind it.
//
// Fast path: when the queue is empty, no drain is handing bytes to gnet and
// gnet's outbound buffer is known empty, Write performs one non-blocking
// write(2) on the socket straight from the caller's goroutine, still under the
// connection mutex, and queues only what the socket did not take. The loop
// records "gnet outbound empty" only after it has checked it, and gnet closes
// the descriptor only after our close callback has marked the connection gone
// under that same mutex, so such a write can neither overtake queued bytes nor
// reach a recycled descriptor. This keeps a small Write to an idle connection
// free of allocations and of a loop hop. For the same reason (the loop owns
// the socket while gnet's outbound buffer is empty) a WriteFile extent at the
// head of a drain goes out with sendfile(2) as far as the socket takes it;
// the spill file never does, since its pages are punched or reused while the
// kernel could still hold them by reference.
//
// # Watermarks and staging
//
// WriteWatermark bounds in-memory outbound per connection. A write is copied
// into memory only while no bytes are staged and memory (queued chunks + bytes
// being handed to gnet + gnet's outbound, as last seen by the loop) stays within
// the watermark; otherwise it is appended to the connection's spill file,
// created lazily in SpillDir and unlinked at once, so it vanishes with the
// process. Once anything is staged, later writes are staged too until the
// spill empties, so memory never sits behind disk. The drain hands bytes to
// gnet only while gnet's OutboundBuffered() is below the watermark, reading
// staged extents back into pooled chunks as it goes; ranges read back are
// hole-punched and the file is truncated whenever it empties, so disk use
// follows the backlog. In-memory outbound therefore stays near WriteWatermark
// per connection (at most about twice it when a stream slot holds back
// in-memory writes queued behind it), whatever the size of the messages.
//
// Staged bytes also draw on a Staging budget, shared by every connection of
// the Servers given it: at most StagingOptions.Max bytes staged at once, and
// never so many that the spill directory's file system would keep less than
// its reserve free (statfs, read at most every 100 ms and adjusted by what
// staging itself wrote since). The spill files come from a SpillFS, the seam
// tests use to fill the disk.
//
// MaxPending bounds everything queued (memory + staged; caller files given to
// WriteFile are not counted, they cost us nothing). A write that would pass
// it, or whose bytes cannot be staged (the Staging budget, the disk's
// reserve, a failing spill write), cuts the connection as a slow consumer:
// the queue is dropped except the rest of a unit (Write call, extent run or
// ended stream) whose first bytes already went to gnet, "-ERR 'Slow
// Consumer'" is queued behind that (so the line never lands inside a
// message; when the unit in progress is a stream still open, no line is
// sent), and the connection closes once all of it is flushed, or at
// FlushTimeout. The cut is logged with the peer's address and the reason,
// which Session.Closed also gets.
//
// # TLS
//
// With Options.TLS the Server is a second transport (tls.go): connections
// are not enrolled in gnet. A goroutine per connection handshakes with
// crypto/tls over the accepted net.TCPConn, then reads and feeds
// Session.Data; a writer goroutine per connection runs the same drain into
// the TLS connection, through a buffer of one full record. Without
// HandshakeFirst the session is opened before the handshake and what it
// queued at accept (INFO) is drained in the clear first; with it, the
// session is opened after. The queue, watermark, staging, stream slots,
// extents and slow-consumer cut are shared with the gnet path; what differs:
// there is no direct-write fast path (writes always wake the writer), gnet's
// outbound is always zero (TLS writes are synchronous), extents are never
// sent with sendfile (the bytes must be encrypted), and closing now closes
// the socket, which also frees a writer blocked on a peer that reads
// nothing. A failed handshake closes the socket, is logged with its reason
// and counted (Server.TLSHandshakeErrors); sockets still handshaking are
// closed by Shutdown.
//
// # Closing
//
// Transport.Close and a Session.Data error flush what is queued, bounded by
// FlushTimeout, then close. Aborting a stream some of whose bytes already
// reached gnet closes at once: the peer holds a partial message. Session.Closed
// is called exactly once per connection, on its loop, after which the spill
// file is closed and every pooled chunk is back in its pool.
package netpoll
