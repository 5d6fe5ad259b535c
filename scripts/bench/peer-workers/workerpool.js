/** workerpool's worker script (forked with `workerType: 'process'`): the methods it registers. */
import workerpool from 'workerpool';
import { burn, double, echo, workerId } from '../tasks.js';

workerpool.worker({ double, echo, burn, workerId });
