/** Binary fixtures, generated for this package (not copied). */
/** 1x1 red PNG, generated for this package. */
export const RED_PIXEL_PNG_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC';
/** 8 samples of 8 kHz mono 8-bit silence as a RIFF/WAVE file, generated for this package. */
export const SILENT_WAV_BASE64 = 'UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA==';
