/** The demo server's identity (serverInfo). */
export const DEMO_SERVER_NAME = 'switchboard-demo';
export const DEMO_SERVER_VERSION = '0.1.0';
