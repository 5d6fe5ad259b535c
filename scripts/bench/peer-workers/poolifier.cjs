/**
 * poolifier's cluster worker script (FixedClusterPool): task functions by name, one argument
 * each. CommonJS on purpose: the pool sends its start-up message as soon as the worker is
 * online, and a cluster worker that is an ES module (loaded asynchronously) may register its
 * listener too late and never receive it; the pool's first task then never gets an answer.
 * tasks.js is an ES module without top-level await, which require() loads on Node >= 20.19.
 */
'use strict';

/* global require, module */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS is the point of this file */

const { ClusterWorker } = require('poolifier');
const { burn, double, echo, workerId } = require('../tasks.js');

module.exports = new ClusterWorker({ double, echo, burn, workerId });
