/* Prelude prepended to every sdcl program.  OpenCL C 1.2, no extensions. */
