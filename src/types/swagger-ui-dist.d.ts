/** swagger-ui-dist ships no types; the API serves its static files (src/api/routes/docs.ts). */
declare module 'swagger-ui-dist/absolute-path.js' {
  /** The directory that holds Swagger UI's static files. */
  function getAbsoluteFSPath(): string;
  export = getAbsoluteFSPath;
}
