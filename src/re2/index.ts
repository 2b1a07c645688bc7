export { Re2, type Re2Options } from './re2.js';
