/**
 * worker-farm's worker module: its child process loads it with require(), so it is CommonJS,
 * and every method takes a Node-style callback as its last argument.
 * tasks.js is an ES module without top-level await, which require() loads on Node >= 20.19.
 */
'use strict';

/* global require, module */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS is the point of this file */

const tasks = require('../tasks.js');

module.exports = {
  double: (x, callback) => callback(null, tasks.double(x)),
  echo: (value, callback) => callback(null, tasks.echo(value)),
  burn: (seed, callback) => callback(null, tasks.burn(seed)),
  workerId: (_, callback) => callback(null, tasks.workerId()),
};
