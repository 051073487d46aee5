#!/usr/bin/env node
console.log('ts-vmm: not implemented yet');
