export { Erasures, MAX_ERASED_TRACES, type ErasuresOptions, type ErasureRequest, type ErasureSelection, type ErasureState, type ErasureStatus, type Requester } from './erasures.js';
