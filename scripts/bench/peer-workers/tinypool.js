/** tinypool's worker module (`runtime: 'child_process'`): named exports, called with `{ name }`. */
export { burn, double, echo, workerId } from '../tasks.js';
