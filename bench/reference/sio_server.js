'use strict';
// Reference Socket.IO server for the ragws benchmark's room fan-out case:
// the seed 002 room semantics, written the way a typical Node service would
// with the npm `socket.io` server (one process, default in-memory adapter):
//   - join_project {project_id}  -> socket.join('project_' + id) (one room at
//     a time: the previous one is left), project_joined {project_id}
//   - leave_project {project_id} -> project_left, or error if not in it
//   - ping {} -> pong {timestamp}; get_metadata -> metadata
//   - POST /api/projects/:id/broadcast {"event","data"} -> io.to(room).emit(event, data)
//     POST /api/projects/:id/updates {"type","data"}   -> project_update {type, data}
//     POST /api/projects/:id/documents/:doc/status {"status","progress"} -> document_status
//     each answered 202 {"status":"published",...}, like ragws
//   - GET /health -> 200
// The bench drives it with the same load generator as ragws
// (bench/loadgen.c, mode sio-fanout).
//
// usage: node bench/reference/sio_server.js PORT [HOST]
const http = require('http');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || 8091);
const host = process.argv[3] || '127.0.0.1';
const ID = /^[A-Za-z0-9_-]{1,48}$/;

function reply(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function readJson(req, res, limit, cb) {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > limit) {
      reply(res, 413, { error: { code: 'PAYLOAD_TOO_LARGE' } });
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    let v;
    try {
      v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      reply(res, 400, { error: { code: 'INVALID_JSON', message: 'body is not JSON' } });
      return;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      reply(res, 400, { error: { code: 'VALIDATION_ERROR', message: 'expected an object' } });
      return;
    }
    cb(v);
  });
}

let io;

const server = http.createServer((req, res) => {
  const url = req.url.split('?')[0];
  if (req.method === 'GET' && url === '/health') {
    reply(res, 200, { status: 'ok' });
    return;
  }
  const m = /^\/api\/projects\/([^/]+)\/(broadcast|updates|documents\/([^/]+)\/status)$/.exec(url);
  if (!m) {
    reply(res, 404, { error: { code: 'NOT_FOUND' } });
    return;
  }
  if (req.method !== 'POST') {
    reply(res, 405, { error: { code: 'METHOD_NOT_ALLOWED' } });
    return;
  }
  const project = m[1];
  if (!ID.test(project)) {
    reply(res, 400, { error: { code: 'VALIDATION_ERROR', message: 'bad project id' } });
    return;
  }
  readJson(req, res, 1 << 20, (v) => {
    const room = `project_${project}`;
    let event;
    let data;
    if (m[2] === 'broadcast') {
      event = v.event;
      data = v.data === undefined ? null : v.data;
      if (typeof event !== 'string' || !event || event.length > 64) {
        reply(res, 400, { error: { code: 'VALIDATION_ERROR', message: '"event" is required' } });
        return;
      }
    } else if (m[2] === 'updates') {
      if (typeof v.type !== 'string' || !v.type) {
        reply(res, 400, { error: { code: 'VALIDATION_ERROR', message: '"type" is required' } });
        return;
      }
      event = 'project_update';
      data = { type: v.type, data: v.data === undefined ? {} : v.data };
    } else {
      if (!['processing', 'completed', 'failed'].includes(v.status)) {
        reply(res, 400, { error: { code: 'VALIDATION_ERROR', message: 'bad status' } });
        return;
      }
      const doc = /^\d+$/.test(m[3]) ? Number(m[3]) : m[3];
      event = 'document_status';
      data = { document_id: doc, status: v.status, progress: v.progress === undefined ? null : v.progress };
    }
    // The textbook Socket.IO room broadcast.
    io.to(room).emit(event, data);
    reply(res, 202, { status: 'published', room, event });
  });
});

io = new Server(server, {
  path: '/socket.io/',
  serveClient: false,
  transports: ['polling', 'websocket'],
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 100000,
  cors: { origin: '*' },
});

function idOf(data) {
  const v = data && data.project_id;
  if (Number.isInteger(v) || (typeof v === 'string' && ID.test(v))) return v;
  return undefined;
}

io.on('connection', (socket) => {
  const meta = { connected_at: Date.now(), project_id: null, chat_id: null };
  socket.emit('connection_status', { status: 'connected', sid: socket.id });

  const answer = (ack, event, data) => {
    if (typeof ack === 'function') ack(data);
    socket.emit(event, data);
  };

  socket.on('join_project', (data, ack) => {
    const id = idOf(data);
    if (id === undefined) return answer(ack, 'error', { message: 'join_project needs project_id' });
    if (meta.project_id !== null) socket.leave(`project_${meta.project_id}`);
    socket.join(`project_${id}`);
    meta.project_id = id;
    return answer(ack, 'project_joined', { project_id: id });
  });

  socket.on('leave_project', (data, ack) => {
    const id = idOf(data);
    if (id === undefined || meta.project_id === null || String(id) !== String(meta.project_id)) {
      return answer(ack, 'error', { message: `not in project ${id}` });
    }
    socket.leave(`project_${id}`);
    meta.project_id = null;
    return answer(ack, 'project_left', { project_id: id });
  });

  socket.on('ping', (data, ack) => answer(typeof data === 'function' ? data : ack, 'pong', { timestamp: Date.now() }));
  socket.on('get_metadata', (data, ack) => answer(typeof data === 'function' ? data : ack, 'metadata', { ...meta }));
});

server.listen({ port, host, backlog: 4096 }, () => {
  process.stdout.write('ready\n');
});

function shutdown() {
  io.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
