// Globals the k6 runtime provides that @types/k6 does not declare.
// lib "dom" would declare them too, but also a browser WebSocket that would
// hide a missing `import { WebSocket } from 'k6/websockets'`.
declare var console: {
  log(...data: any[]): void;
  debug(...data: any[]): void;
  info(...data: any[]): void;
  warn(...data: any[]): void;
  error(...data: any[]): void;
};
