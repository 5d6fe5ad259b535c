/**
 * jest-worker's worker module: its child process loads it with require(), so it is CommonJS.
 * tasks.js is an ES module without top-level await, which require() loads on Node >= 20.19.
 */
'use strict';

/* global require, module */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS is the point of this file */

const { burn, double, echo, workerId } = require('../tasks.js');

module.exports = { double, echo, burn, workerId };
