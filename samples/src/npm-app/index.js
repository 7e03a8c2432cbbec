// dossier sample: parses its arguments with minimist and prints them with lodash.
const minimist = require("minimist");
const _ = require("lodash");
console.log(_.toPairs(minimist(process.argv.slice(2))));
