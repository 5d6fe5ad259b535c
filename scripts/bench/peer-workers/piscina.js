/** piscina's worker module (worker threads): named exports, called with `{ name }`. */
export { burn, double, echo, workerId } from '../tasks.js';
